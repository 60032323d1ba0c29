"""The search: the hypermodel space, keras-tuner tuners and trial loop, devices, recipes, workers."""
