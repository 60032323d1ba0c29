"""Tabular features in Keras: the preprocessing model (encode) and the layers Keras lacks."""
