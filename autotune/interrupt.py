"""Ctrl-C and SIGTERM stop a run at once, and stay an interrupt whatever library code they land in.

A signal raises KeyboardInterrupt wherever the main thread is. Landing inside TensorFlow's graph tracing, it
can come out as another error (seen: `AttributeError: 'OptionalSpec' object has no attribute
'_without_tensor_names'` from a `tf.while_loop` half built), which keras-tuner then records as a failed trial
and the run goes on, exit 0 after a SIGTERM. So the handler also remembers the request, and the places that
catch errors (a trial, the run after the search) turn any error into the interrupt once one was asked for.
"""
from __future__ import annotations

import contextlib
import signal

_requested = False


def handle(signum, frame) -> None:
    """The CLI's and each worker's handler of SIGTERM and SIGINT: stop as cleanly as Ctrl-C."""
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGTERM and SIGINT with `handle`."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)


def reset() -> None:
    """A new run starts un-interrupted (a process may run several, e.g. through the Python API)."""
    global _requested
    _requested = False


def requested() -> bool:
    """Whether a stop was asked for (by a signal through `handle`)."""
    return _requested


@contextlib.contextmanager
def kept():
    """Inside: an error raised after a stop was asked for is the interrupt, not a failure of its own."""
    try:
        yield
    except Exception as exc:
        if _requested:
            raise KeyboardInterrupt from exc
        raise


@contextlib.contextmanager
def deferred():
    """Inside: SIGTERM and SIGINT are held, and the first delivered as the section ends, to the handler in
    place before it. For the few steps that must not be cut in two: a temporary file made but its name not
    yet known (nothing would remove it), an old bundle moved aside but the new one not yet moved in.
    Outside the main thread (where no signal handler runs) it does nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda number, frame: held.append(number))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])
