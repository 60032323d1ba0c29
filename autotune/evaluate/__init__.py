"""Honest numbers: test metrics, cross-validation and the simple baselines on the same rows."""
