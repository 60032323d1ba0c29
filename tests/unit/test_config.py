"""The config in parts: flat options route to their part, and the resume hash covers exactly what changes the
search."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from autotune.config import FitConfig, search_hash
from autotune.errors import InputError

# A value other than the default for every option, of the option's own type.
CHANGED = {
    "target": "y", "task": "regression", "test_size": 0.3, "validation_size": 0.3, "select_features": "pca",
    "text_columns": ("notes",), "categorical_columns": ("zip",),
    "tuner": "random", "max_trials": 2, "epochs": 3, "patience": 1, "search_folds": 2, "metric": "mae",
    "balance": "none", "sample": 100, "space": {"units": [8]}, "recipe": "tabular-fast",
    "image_column": "path", "allow_outside_paths": True, "image_size": "8x8", "augment": "none",
    "backbone": "efficientnetb0", "weights": Path("w.h5"), "device": "cpu", "mixed_precision": "bfloat16",
    "workers": 2, "role": "chief", "bind": "127.0.0.1:9000", "allow_remote_workers": True, "oracle": "h:1",
    "worker_id": "w1", "local_workers": 2, "ensemble": 1, "cv": 3, "baseline": False, "output": Path("out"), "overwrite": True,
    "resume": True, "time_budget": 60.0, "tensorboard": Path("tb"), "mlflow": "file:mlruns", "seed": 7, "data": Path("other.csv"),
}


def test_flat_options_round_trip_through_the_parts():
    config = FitConfig.of("data.csv", **{k: v for k, v in CHANGED.items() if k != "data"})
    assert set(config.options()) == set(CHANGED)
    assert FitConfig.of(**config.options()) == config
    assert (config.search.folds, config.image.size, config.image.column) == (2, "8x8", "path")
    assert config.replace(max_trials=5).search.max_trials == 5 and config.search.max_trials == 2


def test_an_unknown_option_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="max_trial"):
        FitConfig.of("data.csv", max_trial=3)


# What a resumed run may change: where the file lies (its content is compared by fingerprint), where and how
# the run writes, how long it goes on, what it logs, how trials are spread over processes, and what happens
# after the search. Everything else changes what a trial computes.
MAY_DIFFER = {"data", "output", "overwrite", "resume", "time_budget", "tensorboard", "mlflow", "workers", "role", "bind",
              "allow_remote_workers", "oracle", "worker_id", "local_workers", "ensemble", "cv", "baseline"}


@pytest.mark.parametrize("option", sorted(CHANGED))
def test_the_resume_hash_changes_exactly_with_the_settings_that_change_a_trial(option):
    base = FitConfig.of("data.csv")
    changed = base.replace(**{option: CHANGED[option]})
    assert (search_hash(changed, "f") != search_hash(base, "f")) == (option not in MAY_DIFFER)


def test_the_resume_hash_covers_the_data_content():
    base = FitConfig.of("data.csv")
    assert search_hash(base, "f") != search_hash(base, "other content")


def _loaded(fingerprint="f"):
    return SimpleNamespace(fingerprint=fingerprint)


def test_resume_names_the_changed_settings_and_accepts_the_same_ones(tmp_path):
    from autotune.pipeline import _check_resume

    config = FitConfig.of("data.csv", max_trials=3)
    _check_resume(tmp_path, _loaded(), config)  # the first run writes its marker
    _check_resume(tmp_path, _loaded(), config.replace(time_budget=30.0, workers=2, cv=3, data="moved.csv"))
    with pytest.raises(InputError, match="max_trials, image_size"):
        _check_resume(tmp_path, _loaded(), config.replace(max_trials=4, image_size="8x8"))
    with pytest.raises(InputError, match="fingerprint"):
        _check_resume(tmp_path, _loaded("edited"), config)


def test_a_run_json_without_a_hash_resumes_when_its_settings_match(tmp_path):
    """Runs interrupted by an older version kept the flat settings only."""
    from autotune.pipeline import _check_resume

    config = FitConfig.of("data.csv", max_trials=3)
    (tmp_path / "run.json").write_text(json.dumps({"fingerprint": "f", **config.search_settings()}))
    _check_resume(tmp_path, _loaded(), config)
    assert "search_hash" in json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({"fingerprint": "f", **config.search_settings(), "epochs": 5}))
    with pytest.raises(InputError, match="epochs"):
        _check_resume(tmp_path, _loaded(), config)


def test_resume_warns_when_the_thread_pools_differ_from_the_interrupted_runs(tmp_path):
    """A seed reproduces a run only with the same thread counts (BLAS sums in another order): a resumed search whose
    pools differ still runs, but says its remaining trials may not be the ones the interrupted run would have had."""
    from autotune.pipeline import _check_resume, _check_resume_threads

    config = FitConfig.of("data.csv", max_trials=3)
    two = {"cpus": 2, "blas": {"openblas (pthreads)": 2}, "tensorflow_intra_op": 0, "tensorflow_inter_op": 0}
    one = {**two, "blas": {"openblas (pthreads)": 1}}
    _check_resume(tmp_path, _loaded(), config)  # the first run writes its marker, then its threads
    assert _check_resume_threads(tmp_path, two) == []
    _check_resume(tmp_path, _loaded(), config)
    assert _check_resume_threads(tmp_path, two) == []
    [warning] = _check_resume_threads(tmp_path, one)
    assert "blas" in warning and "--resume" in warning
    assert json.loads((tmp_path / "run.json").read_text())["threads"] == two  # the interrupted run's, kept
