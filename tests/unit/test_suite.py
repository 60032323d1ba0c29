"""The development suite (bench/suite.py, issue 17): its declaration covers what the issue asks, and the sets that
the `test` extra can build (scikit-learn's and palmerpenguins') are written as declared, with a stable sha256."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import suite  # noqa: E402  (bench/ is not a package)

TABULAR = [s for s in suite.SETS if s.kind == "tabular"]
IMAGES = [s for s in suite.SETS if s.kind == "image"]
# What the `test` extra installs (scikit-learn is a dependency of autotune itself; palmerpenguins is in `test`).
TEST_EXTRA = ("breast_cancer", "penguins", "diabetes", "digits")


def test_the_declaration_covers_the_issue():
    assert len({s.name for s in suite.SETS}) == len(suite.SETS)
    assert len(TABULAR) >= 15 and len(IMAGES) >= 4
    tasks = Counter(s.task for s in TABULAR)
    assert all(tasks[t] >= 4 for t in suite.TASKS), tasks
    kinds = Counter(k for s in TABULAR for k in s.exercises)
    assert kinds["categorical"] >= 3 and kinds["missing"] >= 3 and kinds["skewed"] >= 3 and kinds["imbalanced"] >= 2
    assert min(s.rows for s in TABULAR) <= 500 and max(s.rows for s in TABULAR) >= 90_000
    assert any(s.task == "multiclass" and s.rows >= 1500 and "digit" in s.description for s in IMAGES)
    for s in suite.SETS:
        assert s.task in suite.TASKS and set(s.exercises) <= set(suite.KINDS) and s.rows > 0, s.name
        assert (s.target is None) == (s.kind == "image"), s.name
        assert s.description and s.file.startswith(s.module), s.name


def test_four_varied_tabular_sets_are_held_out():
    held = [s for s in suite.SETS if s.held_out]
    assert len(held) == 4 and all(s.kind == "tabular" for s in held)
    assert {s.task for s in held} == set(suite.TASKS)  # each task, so the check is not of one kind only
    assert tuple(s.name for s in held) == suite.HELD_OUT
    rest = [s for s in TABULAR if not s.held_out]  # what tuning sees still has every kind
    assert set(suite.KINDS) <= {k for s in rest for k in s.exercises}


def test_the_sets_of_the_test_extra_build_as_declared_and_stay_stable(tmp_path):
    cache = tmp_path / "cache"
    results = suite.build(cache, list(TEST_EXTRA), say=lambda _: None)
    assert {n: status for n, (status, _) in results.items()} == dict.fromkeys(TEST_EXTRA, "built")
    manifest = json.loads((cache / suite.MANIFEST).read_text())
    assert sorted(manifest) == sorted(TEST_EXTRA)
    for name in TEST_EXTRA:
        spec, entry = suite.BY_NAME[name], manifest[name]
        path = cache / entry["path"]
        assert entry["sha256"] == suite.sha256_of(path) and entry["rows"] == spec.rows
        assert entry["source"] == spec.source and entry["held_out"] is spec.held_out and entry["task"] == spec.task
        if spec.kind == "tabular":
            frame = pd.read_csv(path)
            assert len(frame) == spec.rows and spec.target in frame.columns and entry["columns"] == frame.shape[1]
            assert "rownames" not in frame.columns
            assert set(spec.exercises) == suite.kinds_measured(entry)  # what it claims to exercise, it holds
        else:
            classes = sorted(p.name for p in path.iterdir())
            assert all(p.is_dir() for p in path.iterdir()) and len(classes) == entry["classes"] == 10
            assert sum(1 for _ in path.rglob("*.png")) == spec.rows
    assert (cache / "digits" / "digit_0" / "0000.png").exists()

    # Built again: kept, not rewritten. Deleted and built again: byte for byte the same.
    again = suite.build(cache, list(TEST_EXTRA), say=lambda _: None)
    assert {status for status, _ in again.values()} == {"kept"}
    (cache / "penguins.csv").unlink()
    for path in (cache / "digits").rglob("*.png"):
        path.unlink()
    rebuilt = suite.build(cache, ["penguins", "digits"], say=lambda _: None)
    assert {status for status, _ in rebuilt.values()} == {"built"}
    for name in ("penguins", "digits"):
        assert rebuilt[name][1]["sha256"] == manifest[name]["sha256"]

    # A file edited after the build is noticed and rebuilt.
    (cache / "diabetes.csv").write_text("edited\n")
    status, entry = suite.build_set(suite.BY_NAME["diabetes"], cache)
    assert status == "built" and entry["sha256"] == manifest["diabetes"]["sha256"]


def test_a_set_whose_package_is_missing_is_reported_not_built(tmp_path):
    spec = suite.Set("nothing", "tabular", "binary", "y", "no-such-dist", "no_such_module_for_autotune", "x.csv", (),
                     "a set whose package is not installed", lambda: pytest.fail("built"), rows=1)
    assert suite.build_set(spec, tmp_path) == ("unavailable", None)
    assert not (tmp_path / "nothing.csv").exists()


def test_a_build_that_writes_other_rows_than_declared_is_refused(tmp_path):
    spec = suite.Set("short", "tabular", "binary", "y", "pandas", "pandas", "pandas/x.csv", (),
                     "declares 3 rows, writes 2", lambda: pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), rows=3)
    with pytest.raises(SystemExit, match="wrote 2 rows, the declaration says 3"):
        suite.build_set(spec, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- bench/run.py --suite's summaries (bench/suite_bench.py) ---------------------------------------------

def _result(name, task, values, held_out=False, exercises=()):
    """A suite result as suite_section writes it: values = {contender: [headline per seed]}; None is a failed
    run, a string the status of a contender that did not run (AutoGluon's "tabular only")."""
    key = "rmse" if task == "regression" else ("f1_macro" if "imbalanced" in exercises else "accuracy")
    second = {"rmse": "r2", "accuracy": "f1_macro", "f1_macro": "accuracy"}[key]
    seeds = []
    for i in range(len(next(iter(values.values())))):
        rows = []
        for contender, per_seed in values.items():
            value = per_seed[i]
            if isinstance(value, str):
                rows.append({"contender": contender, "status": value})
                continue
            rows.append({"contender": contender, "status": "failed (exit 1)", "wall_s": 1.0} if value is None else
                        {"contender": contender, "status": "ok", key: value, second: 0.5, "wall_s": 2.0})
        seeds.append({"seed": i, "contenders": rows})
    return {"data": name, "held_out": held_out, "task": task, "exercises": list(exercises), "rows": 100,
            "seeds": seeds}


def test_autotune_wins_or_loses_only_when_the_seeds_agree():
    import suite_bench

    assert suite_bench.paired_decision([0.90, 0.91, 0.92], [0.80, 0.80, 0.81], higher=True)["decision"] == "win"
    assert suite_bench.paired_decision([0.90, 0.70, 0.95], [0.80, 0.80, 0.81], higher=True)["decision"] == "tie"
    assert suite_bench.paired_decision([1.0, 1.1, 1.2], [2.0, 2.2, 2.1], higher=False)["decision"] == "win"  # RMSE
    assert suite_bench.paired_decision([2.0, 2.2, 2.1], [1.0, 1.1, 1.2], higher=False)["decision"] == "loss"
    assert suite_bench.paired_decision([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], higher=True)["decision"] == "tie"
    assert suite_bench.paired_decision([0.9], [0.5], higher=True)["decision"] == "tie"  # one seed tests nothing


def test_the_suite_summary_compares_with_the_better_baseline_ranks_and_keeps_held_out_apart():
    import suite_bench

    results = [
        _result("a", "binary", {"autotune": [0.90, 0.91, 0.92], "HistGradientBoosting": [0.85, 0.86, 0.86],
                                "Logistic/Ridge": [0.80, 0.81, 0.80]}),
        _result("b", "regression", {"autotune": [3.0, 3.1, 3.2], "HistGradientBoosting": [2.0, 2.1, 2.2],
                                    "Logistic/Ridge": [2.5, 2.5, 2.6]}),
        _result("c", "multiclass", {"autotune": [0.5, None, 0.6], "HistGradientBoosting": [0.7, 0.7, 0.7],
                                    "Logistic/Ridge": [0.6, 0.6, 0.6]}, exercises=("imbalanced",)),
        _result("d", "binary", {"autotune": [0.7, 0.8, 0.75], "HistGradientBoosting": [0.75, 0.75, 0.76],
                                "Logistic/Ridge": [0.70, 0.71, 0.70]}, held_out=True),
    ]
    summary = suite_bench.summarise(results)
    sets = {s["data"]: s for s in summary["sets"]}
    assert sets["a"]["versus"]["baseline"] == "HistGradientBoosting" and sets["a"]["versus"]["decision"] == "win"
    assert sets["b"]["metric"] == "rmse" and sets["b"]["versus"]["baseline"] == "HistGradientBoosting"
    assert sets["b"]["versus"]["decision"] == "loss" and sets["b"]["ranks"]["autotune"] == 3
    assert sets["c"]["metric"] == "f1_macro" and sets["c"]["versus"] is None  # a failed seed: not compared
    assert sets["c"]["contenders"]["autotune"]["failures"] == ["failed (exit 1)"]
    assert sets["d"]["versus"]["decision"] == "tie"
    development, held_out = summary["development"], summary["held_out"]
    assert (development["sets"], development["wins"], development["losses"], development["not_compared"]) == (3, 1, 1, 1)
    assert (held_out["sets"], held_out["ties"]) == (1, 1)
    assert development["mean_rank"]["autotune"] == 2.0  # first on a, third on b, unranked on c
    assert development["mean_rank"]["HistGradientBoosting"] == pytest.approx((2 + 1 + 1) / 3)
    assert held_out["mean_rank"] == {"HistGradientBoosting": 1.0, "autotune": 2.0, "Logistic/Ridge": 3.0}
    text = "\n".join(suite_bench.section({"suite_summary": summary, "settings": {"seeds": 3, "test_size": 0.2},
                                          "suite_cache": "/cache", "suite_missing": ["tv16"]}))
    assert text.index("### Development sets") < text.index("### Held-out sets") and "Not built (package missing): tv16" in text
    assert "1 win(s), 0 tie(s), 1 loss(es)**, 1 not compared (a run failed)" in text
    # issue 17's yardstick: the mean against the better baseline's, in R² for regression (all 0.5 here)
    assert sets["a"]["gap"]["value"] == pytest.approx(0.91 - 0.86 + 0.0033, abs=1e-3)
    assert sets["b"]["gap"] == {"metric": "r2", "baseline": "HistGradientBoosting", "value": 0.0, "tolerance": 0.02}
    assert sets["c"]["gap"] is None and sets["d"]["gap"]["value"] == pytest.approx(0.75 - 0.7533, abs=1e-4)
    assert development["versus_best_baseline"]["sets"] == 2 and development["versus_best_baseline"]["at_least"] == 2
    assert held_out["versus_best_baseline"]["at_least"] == 0 and held_out["versus_best_baseline"]["beyond_tolerance"] == []
    assert "on **2 of 2** set(s)" in text and "on **0 of 1** set(s); worst: d, -0.0033 accuracy" in text
    below = suite_bench._gap("regression", "rmse", {"autotune": {"second_mean": 0.85}, "Logistic/Ridge": {
        "second_mean": 0.91}, "HistGradientBoosting": {"second_mean": 0.90}})
    assert below["baseline"] == "Logistic/Ridge" and below["value"] == pytest.approx(-0.06)


def test_autogluon_is_ranked_beside_autotune_on_tabular_sets_and_marked_tabular_only_on_images():
    import suite_bench

    results = [
        _result("a", "binary", {"autotune": [0.90, 0.91, 0.92], "HistGradientBoosting": [0.85, 0.86, 0.86],
                                "Logistic/Ridge": [0.80, 0.81, 0.80], "AutoGluon": [0.93, 0.94, 0.95]}),
        _result("b", "regression", {"autotune": [2.0, 2.1, 2.2], "HistGradientBoosting": [2.5, 2.6, 2.6],
                                    "Logistic/Ridge": [3.0, 3.0, 3.1], "AutoGluon": [2.4, 2.4, 2.5]}),
        _result("digits", "multiclass", {"autotune": [0.98, 0.99, 0.98], "HistGradientBoosting": [0.90, 0.91, 0.90],
                                         "Logistic/Ridge": [0.95, 0.95, 0.96], "AutoGluon": ["tabular only"] * 3}),
        _result("d", "binary", {"autotune": [0.7, 0.8, 0.75], "HistGradientBoosting": [0.75, 0.75, 0.76],
                                "Logistic/Ridge": [0.70, 0.71, 0.70], "AutoGluon": [0.8, None, 0.8]}, held_out=True),
    ]
    summary = suite_bench.summarise(results)
    sets = {s["data"]: s for s in summary["sets"]}
    assert sets["a"]["ranks"] == {"AutoGluon": 1, "autotune": 2, "HistGradientBoosting": 3, "Logistic/Ridge": 4}
    assert sets["a"]["versus"]["baseline"] == "HistGradientBoosting"  # AutoGluon is a contender, not a baseline
    assert sets["b"]["ranks"]["autotune"] == 1 and sets["b"]["ranks"]["AutoGluon"] == 2
    assert sets["digits"]["contenders"]["AutoGluon"]["ok"] == 0 and "AutoGluon" not in sets["digits"]["ranks"]
    assert "AutoGluon" not in sets["d"]["ranks"]  # a failed seed: not ranked there
    development, held_out = summary["development"], summary["held_out"]
    assert development["mean_rank"]["AutoGluon"] == 1.5 and development["ranked_sets"]["AutoGluon"] == 2
    assert development["mean_rank"]["autotune"] == pytest.approx((2 + 1 + 1) / 3)
    assert development["wall_s"]["AutoGluon"] == 12.0  # 2 s × 3 seeds × 2 sets; "tabular only" costs nothing
    assert development["versus_autogluon"] == {"sets": 2, "autotune": 1.5, "AutoGluon": 1.5, "ahead": 1, "behind": 1}
    assert "versus_autogluon" not in held_out and "AutoGluon" not in held_out["mean_rank"]
    text = "\n".join(suite_bench.section({"suite_summary": summary, "settings": {"seeds": 3, "test_size": 0.2},
                                          "suite_cache": "/cache"}))
    assert "| autotune | HistGradientBoosting | Logistic/Ridge | AutoKeras | AutoGluon | vs best baseline" in text
    header = next(line for line in text.splitlines() if line.startswith("| data | rows |"))
    digits = next(line for line in text.splitlines() if line.startswith("| digits |"))
    assert digits.count("|") == header.count("|")  # a cell for every contender
    assert "| — | tabular only |" in digits  # AutoKeras not installed, AutoGluon skipped: neither counts as failed
    assert "0.8000 ± 0.0000 (1 failed)" in text
    assert "mean rank **1.50 vs 1.50**; autotune ahead on 1, behind on 1." in text
    assert "| AutoGluon | 1.50 | 2 | 12 |" in text


def test_autogluon_is_optional_and_says_why_it_did_not_run(tmp_path):
    import run as bench

    assert bench.autogluon_python("none") == (None, "not run (--autogluon-python none)")
    python, why = bench.autogluon_python(str(tmp_path / "no-python"))
    assert python is None and why.startswith("not installed (") and "No such file" in why
    python, why = bench.autogluon_python(sys.executable)  # autotune's own environment has no AutoGluon
    assert python is None and why.startswith("not installed (") and "autogluon" in why


def _git(repo, *args):
    import subprocess

    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_a_suite_journal_continues_only_the_product_it_measured(tmp_path):
    """`bench/run.py --suite --journal`: a suite split over sittings reuses a finished set only for the same
    committed product and settings; another product tree, other settings or uncommitted product files refuse."""
    import suite_bench

    repo = tmp_path / "repo"
    (repo / "autotune").mkdir(parents=True)
    (repo / "recipes").mkdir()
    (repo / "bench").mkdir()
    for path, text in (("autotune/a.py", "x = 1\n"), ("recipes/r.yaml", "a: 1\n"), ("setup.py", "# s\n"),
                       ("bench/b.py", "y = 1\n")):
        (repo / path).write_text(text)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    product = suite_bench.product_fingerprint(repo)
    assert product is not None
    key = {"seeds": 3, "test_size": 0.2, "autokeras": None, "autogluon": "autogluon 1.6.3"}
    journal = tmp_path / "suite.jsonl"
    assert suite_bench.read_journal(journal, product, key) == {}
    record = _result("olive", "multiclass", {"autotune": [0.9, 0.8, 0.85], "HistGradientBoosting": [0.8, 0.8, 0.8]})
    suite_bench.append_journal(journal, product, key, "abc1234", "2026-12-04T00:00:00", record,
                               [{"label": "olive", "seconds": 1.0}])
    done = suite_bench.read_journal(journal, product, key)
    assert list(done) == ["olive"] and done["olive"]["set"] == record and done["olive"]["commands"][0]["seconds"] == 1.0

    (repo / "bench/b.py").write_text("y = 2\n")  # the harness may change between sittings
    _git(repo, "commit", "-qam", "bench only")
    assert suite_bench.product_fingerprint(repo) == product
    (repo / "autotune/a.py").write_text("x = 2\n")  # the product may not, not even uncommitted
    assert suite_bench.product_fingerprint(repo) is None
    with pytest.raises(suite_bench.JournalError, match="uncommitted"):
        suite_bench.read_journal(journal, None, key)
    suite_bench.append_journal(journal, None, key, "abc1234", "now", record, [])  # nothing written for it
    assert len(journal.read_text().splitlines()) == 1
    _git(repo, "commit", "-qam", "product")
    other = suite_bench.product_fingerprint(repo)
    assert other not in (None, product)
    with pytest.raises(suite_bench.JournalError, match="olive measured product"):
        suite_bench.read_journal(journal, other, key)
    with pytest.raises(suite_bench.JournalError, match="ran with"):
        suite_bench.read_journal(journal, product, {**key, "seeds": 2})
