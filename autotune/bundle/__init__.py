"""The bundle: export writes it (SavedModel taking raw rows), load reads, verifies and predicts."""
