"""The anomaly gate: stops a run before batching and training when the data has anomalies."""
