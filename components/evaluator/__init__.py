"""The Evaluator: validation metrics, thresholds and a blessing against the serving model."""
