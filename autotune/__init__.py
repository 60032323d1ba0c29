"""autotune: a Keras AutoML tool — searched, honestly evaluated models that take raw rows."""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) is noise in a terminal and in cron mail.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["fit", "load", "Bundle"]


def __getattr__(name: str):
    """`autotune.fit`, `autotune.load`, `autotune.Bundle` (autotune/api.py), imported on first use: `import
    autotune` (and so `autotune --help`) stays free of pandas and TensorFlow."""
    if name in __all__:
        from autotune import api

        return getattr(api, name)
    raise AttributeError(f"module 'autotune' has no attribute {name!r}")
