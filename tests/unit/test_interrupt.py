"""SIGTERM/Ctrl-C stay an interrupt even where library code turns the KeyboardInterrupt into another error."""
import os
import signal

import pytest

from autotune import interrupt


@pytest.fixture
def handlers(monkeypatch):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(interrupt, "_requested", False)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_interrupts_and_is_remembered(handlers, signum):
    interrupt.install()
    assert not interrupt.requested()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)
        signal.sigtimedwait([], 1)  # let the handler run, if it has not yet
    assert interrupt.requested()


def _tracing_swallows_the_interrupt():
    """What TensorFlow's graph tracing did with a SIGTERM that landed in it: another error in its place."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 1)
    except KeyboardInterrupt:
        pass
    raise AttributeError("'OptionalSpec' object has no attribute '_without_tensor_names'")


def test_an_error_after_the_signal_is_the_interrupt(handlers):
    interrupt.install()
    with pytest.raises(KeyboardInterrupt), interrupt.kept():
        _tracing_swallows_the_interrupt()


def test_without_a_signal_an_error_stays_itself(handlers):
    interrupt.install()
    with pytest.raises(AttributeError), interrupt.kept():
        raise AttributeError("a real failure")


def test_a_new_run_starts_uninterrupted(handlers):
    interrupt.install()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 1)
    interrupt.reset()
    with pytest.raises(AttributeError), interrupt.kept():
        raise AttributeError("a real failure of the next run")
