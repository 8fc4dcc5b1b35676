"""The Trainer: a Keras model, loss, activation and optimizer chosen by name in the YAML."""
