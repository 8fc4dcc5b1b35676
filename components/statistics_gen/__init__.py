"""StatisticsGen: TFX's, with the examples read a block of records at a time."""
