"""Is the data fit to train on: great-expectations suites generated from reference data and
refined in config, per-part statistics, feature drift and its statistical tests, the label
distribution contract, and the validation of a snapshot that combines them into one verdict."""
