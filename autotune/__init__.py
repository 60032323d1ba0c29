"""autotune: a Keras AutoML tool — searched, honestly evaluated models that take raw rows."""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) is noise in a terminal and in cron mail.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
