"""The bundle: its format shared by writer and reader (format), writing it (export: a SavedModel taking raw
rows, published atomically) and reading it (load: verify, predict, evaluate)."""
