"""Image data: the folder loader and the tf.data pipeline, augmentation and the CNN space."""
