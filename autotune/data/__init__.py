"""Tabular data in: load a file, profile it, split it honestly, clean what the training split says."""
