"""The bundle: its format shared by writer and reader (format), writing it (export: a SavedModel taking raw
rows, published atomically), deciding whether one may be trusted (verify: hashes, signature, schema, the
SavedModel's ops) and using it (load: predict, evaluate)."""
