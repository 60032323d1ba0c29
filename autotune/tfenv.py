"""Importing TensorFlow quietly: TF 2.21 prints start-up lines from C++ (oneDNN, CUDA probing)
before any log level applies, which is noise in a terminal and in cron mail."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True):
    """Send file descriptor 2 to /dev/null for the duration (Python's sys.stderr is untouched)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(quiet: bool = True):
    """Import TensorFlow and initialise its devices with the native start-up chatter suppressed. On the first import,
    the objects it made (~400,000) are moved out of the garbage collector's view (gc.freeze): each full collection
    would walk them all again, and Keras's clear_session, which keras-tuner calls before every trial, collects
    (~0.2 s a trial, then ~0)."""
    first = "tensorflow" not in sys.modules
    with native_stderr_silenced(quiet and first):
        import tensorflow as tf

        from autotune.search.devices import configure_runtime

        configure_runtime(tf)  # GPU memory growth, logical CPUs: before the first op
        tf.constant(0.0) + 1.0  # first op: probes CUDA and would print its failure otherwise
    if first:
        import gc

        import keras  # noqa: F401  (its modules too: every trial's clear_session walks what is not frozen)

        gc.collect()
        gc.freeze()
    # Retracing notices ("5 out of the last 41 calls ...") are expected when a search builds many models.
    tf.get_logger().setLevel("ERROR")
    return tf
