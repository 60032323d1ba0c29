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


def _signal_now(signum=signal.SIGTERM):
    """A signal delivered at this exact point: the handler runs before the next line of Python does."""
    os.kill(os.getpid(), signum)
    signal.sigtimedwait([], 1)


def test_a_signal_while_the_temporary_is_made_leaves_no_temporary(handlers, tmp_path, monkeypatch):
    """CI saw it: SIGTERM landing after mkstemp created `.predictions.csv.*.partial` but before the writer
    knew its name left the temporary beside the older file."""
    import tempfile

    from autotune.files import atomic_write

    interrupt.install()
    target = tmp_path / "predictions.csv"
    target.write_text("an older file\n")
    real = tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        made = real(*args, **kwargs)
        _signal_now()
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "the predictions") as fh:
        fh.write("new\n")
    assert target.read_text() == "an older file\n"
    assert list(tmp_path.iterdir()) == [target]


def test_a_signal_while_the_file_is_renamed_into_place_keeps_one_whole_file(handlers, tmp_path, monkeypatch):
    """A signal landing on the rename itself: the new file is in place, the interrupt still reported."""
    from autotune.files import atomic_write

    interrupt.install()
    target = tmp_path / "predictions.csv"
    target.write_text("an older file\n")
    real = os.replace

    def replace_then_signal(*args, **kwargs):
        real(*args, **kwargs)
        _signal_now()

    monkeypatch.setattr(os, "replace", replace_then_signal)
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "the predictions") as fh:
        fh.write("new\n")
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_text() == "new\n"


def test_a_signal_between_the_two_renames_of_publish_keeps_a_bundle_at_the_output(handlers, tmp_path, monkeypatch):
    """publish moves the old bundle aside, then the new one in: a signal between the two left no bundle at
    the output path (the old one hidden as .NAME.old-*)."""
    from autotune.bundle import export

    interrupt.install()
    output, new = tmp_path / "bundle", tmp_path / "work" / "bundle"
    for folder, text in ((output, "old"), (new, "new")):
        folder.mkdir(parents=True)
        (folder / "metadata.json").write_text(f'{{"which": "{text}"}}')
    real, calls = os.rename, []

    def rename_then_signal(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(args)
        if len(calls) == 1:
            _signal_now()

    monkeypatch.setattr(os, "rename", rename_then_signal)
    with pytest.raises(KeyboardInterrupt):
        export.publish(new, output, overwrite=True)
    assert (output / "metadata.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "work"]


def test_deferred_delivers_a_signal_at_its_end_to_the_handler_in_place(handlers):
    interrupt.install()
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.deferred():
            _signal_now()
            reached.append("after the signal, inside")
        reached.append("after the section")  # not reached: the interrupt is raised as the section ends
    assert reached == ["after the signal, inside"]
    assert interrupt.requested()
    assert signal.getsignal(signal.SIGTERM) is interrupt.handle
