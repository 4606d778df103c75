"""Data: the default synthetic dataset, reading/writing tables, and train/test splits."""
