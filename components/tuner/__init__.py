"""Tuner: a KerasTuner search over the trainer's own fields, with TFX's Tuner contract."""
