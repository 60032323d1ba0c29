"""Rows of named columns: the tabular modality (run: loading a table and its run through the stages), the
preprocessing model fixed into Keras layers (encode) and the layers Keras lacks (layers)."""
