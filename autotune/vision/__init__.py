"""Images: the image modality (run: loading an image folder or CSV and its run through the stages), finding
and checking image files (images), and the tf.data pipeline, augmentation and CNN space (pipeline)."""
