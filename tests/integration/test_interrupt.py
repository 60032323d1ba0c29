"""A SIGTERM that lands where a library turns the KeyboardInterrupt into an error of its own (TensorFlow's graph
tracing did: an AttributeError from a half-built tf.while_loop, which keras-tuner recorded as a failed trial,
and the run went on to exit 0) still stops the run as interrupted, with its work kept for --resume."""
import os
import signal

import keras
import pytest
from conftest import DATA

from autotune import interrupt
from autotune.bundle.export import work_dir
from autotune.config import FitConfig
from autotune.pipeline import Interrupted, fit


@pytest.fixture
def handlers(monkeypatch):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(interrupt, "_requested", False)
    interrupt.install()  # as the CLI does
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_sigterm_swallowed_inside_training_still_interrupts_the_run(tmp_path, monkeypatch, handlers):
    from autotune.search import stacked

    calls = []

    def hit_by_sigterm(real):
        def training(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the second trial: the first one finished and is kept
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    signal.sigtimedwait([], 1)
                except KeyboardInterrupt:
                    pass  # what tracing did with it
                raise AttributeError("'OptionalSpec' object has no attribute '_without_tensor_names'")
            return real(*args, **kwargs)
        return training

    # the trials train in stacked.py's loop (tabular), or in Keras's fit (images, several devices)
    monkeypatch.setattr(keras.Model, "fit", hit_by_sigterm(keras.Model.fit))
    monkeypatch.setattr(stacked, "train_side_by_side", hit_by_sigterm(stacked.train_side_by_side))
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        fit(FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=3, epochs=2, search_folds=1,
                         ensemble=1, baseline=False))
    assert len(calls) == 2  # no trial after the signal, no final fit
    assert not out.exists() and work_dir(out).is_dir()  # the output untouched; the search kept for --resume


def test_a_signal_as_the_bundle_is_moved_into_place_says_the_bundle_is_complete(tmp_path, monkeypatch, handlers):
    """publish holds SIGTERM while it moves the bundle into place and delivers it right after: the run is then
    reported as interrupted (exit 130) but with the truth — the bundle is complete at the output — not "continue with
    --resume", and no work directory is left behind."""
    from autotune import pipeline

    real = pipeline.publish

    def signal_during_the_move(*args, **kwargs):
        with interrupt.deferred():
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # arrives inside the section: delivered as it ends
            signal.sigtimedwait([], 1)

    monkeypatch.setattr(pipeline, "publish", signal_during_the_move)
    out = tmp_path / "out"
    with pytest.raises(Interrupted, match="complete") as info:
        fit(FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=1, epochs=2, search_folds=1,
                         ensemble=1, baseline=False))
    assert "--resume" not in str(info.value)
    assert (out / "metadata.json").is_file() and (out / "saved_model").is_dir()
    assert not work_dir(out).exists()
