"""Data validation: expectations, drift tests, label contract."""
