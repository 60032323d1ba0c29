"""fit: load → profile → clean → encode → search → final fit → evaluate → export, in that order."""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from autotune import interrupt
from autotune.bundle.export import check_output, output_lock, prepare_work_dir, publish, resolve_output
from autotune.bundle.format import write_json
from autotune.bundle.space import bundle_estimate, check_space, disk_usage, kept_for_resume
from autotune.config import FitConfig, search_hash
from autotune.errors import EXIT_INTERRUPTED, AutotuneError, InputError
from autotune.events import Recorder, Reporter
from autotune.modality import Loaded, modality_of
from autotune.report.build import Evaluation, build_metadata, build_report
from autotune.report.write import write_report
from autotune.search.devices import thread_counts
from autotune.search.memory import release_freed
from autotune.search.prepare import SearchSetup, search_setup
from autotune.task import task_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    output: Path
    report: dict


def default_output(data: Path) -> Path:
    """runs/<data name>-<timestamp>, where a run without --output publishes its bundle."""
    return Path("runs") / f"{data.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


class _Timer:
    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = time.perf_counter()
        self.started = time.time()  # wall clock, for the time budget
        self.earlier = 0.0  # seconds spent by the interrupted runs a --resume continues
        self._saved: Path | None = None

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.times[name] = round(now - since, 3)
        return now

    def total(self) -> float:
        """Seconds of the whole run, the interrupted parts a --resume continued included."""
        return round(self.earlier + time.perf_counter() - self._start, 3)

    def keep_in(self, work: Path) -> None:
        """Count the time of earlier, interrupted runs recorded in the work directory, and record ours
        there as it goes (see save), so a resumed run's report gives the time of the whole job."""
        self._saved = work / "elapsed.json"
        if self._saved.exists():
            try:
                self.earlier = float(json.loads(self._saved.read_text())["seconds"])
            except (ValueError, KeyError, TypeError):
                self.earlier = 0.0
        self.save()

    def save(self) -> None:
        if self._saved is not None:
            self._saved.write_text(json.dumps({"seconds": self.total()}))


class Interrupted(AutotuneError):
    """Ctrl-C (or SIGTERM) during training: finished trials are kept for --resume."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, output: Path, work: Path, published: bool = False):
        if published:  # the signal came as the bundle was moved into place (publish holds it until then)
            super().__init__(f"interrupted as the run ended: the bundle at {output} is complete")
            return
        trials = len(list((work / "search" / "search").glob("trial_*")))
        super().__init__(f"interrupted with {trials} trial(s) started; their results are kept in {work}. "
                         f"Continue with the same command plus --resume (same --output {output})")


def fit(config: FitConfig, reporter: Reporter | None = None, started: float | None = None) -> FitResult:
    """Run the whole job and publish a bundle at config.run.output (or a new runs/ directory).

    With --role worker, this process only runs search trials for a chief elsewhere (see work())."""
    from autotune.search.distributed import check_cluster_options

    interrupt.reset()  # a stop asked of an earlier run in this process is not one of this run
    check_cluster_options(config)
    if config.run.mlflow:
        from autotune.tracking import check_mlflow

        check_mlflow()
    data = Path(config.data.path)
    if (config.cluster.workers or config.cluster.role) and data.exists() and not data.is_dir() and not data.is_file():
        raise InputError(f"{data}: a pipe can be read only once, and with --workers or --role every process reads "
                         "the data; save it to a file and pass that")
    if config.cluster.role == "worker":
        return work(config, reporter or Reporter(), started)
    given = Path(config.run.output) if config.run.output else default_output(Path(config.data.path))
    output = resolve_output(given, Path(config.data.path))  # `link -> out` is `out`: one lock, one work directory
    check_output(output, config.run.overwrite or config.run.resume)
    with output_lock(output):
        return _fit(config, output, reporter or Reporter())


def _load(config: FitConfig, reporter: Reporter) -> Loaded:
    """Load, profile, clean and split the data, and make every check that needs no training."""
    reporter.stage("load")
    loaded = modality_of(config).load(config, reporter)
    release_freed(loaded.rows * loaded.columns * 8)  # what reading left, before encoding adds the largest arrays
    # Checks that need the data's task, made before any training: a refusal costs nothing.
    if config.search.metric:
        from autotune.evaluate.metrics import check_metric

        check_metric(config.search.metric, loaded.run.task)
    if config.final.cv:
        loaded.run.check_cv(config.final.cv)
    if config.search.sample:
        from autotune.modality import check_sample

        check_sample(config.search.sample, loaded.run)
    for warning in loaded.prof.warnings:
        reporter.warning(warning)
    reporter.profiled(loaded.prof, loaded.cleaning)
    return loaded


def _fit(config: FitConfig, output: Path, reporter: Reporter) -> FitResult:
    reporter = Recorder(reporter)  # its warnings also go into report.json
    timer = _Timer()
    t = time.perf_counter()
    loaded = _load(config, reporter)
    t = timer.lap("load_profile_clean", t)
    if config.cluster.workers is None:  # --workers auto, decided by the data
        from autotune.search.distributed import auto_workers

        workers, why = auto_workers(config, loaded.run)
        config = config.replace(workers=workers)
        if workers:
            reporter.note(why)

    staging = prepare_work_dir(output, config.run.resume, config.run.overwrite)
    _check_resume(staging, loaded, config)
    timer.keep_in(staging)
    cluster = None
    exporting = False
    try:
        cluster = _start_cluster(config, staging, timer.started, reporter)
        result, trial_curves = _train_and_export(config, loaded, staging, timer, t, reporter, cluster)
        reporter.stage("export")
        exporting = True
        publish(staging / "bundle", output, config.run.overwrite or config.run.resume)
    except KeyboardInterrupt:
        raise _interrupted(output, staging, exporting) from None
    except BaseException as exc:
        if interrupt.requested():  # a library turned the interrupt into an error of its own
            raise _interrupted(output, staging, exporting) from None
        if "search" not in timer.times:  # nothing worth keeping yet
            shutil.rmtree(staging, ignore_errors=True)
            raise
        kept = kept_for_resume(exc, staging)
        if kept is exc:
            raise
        raise kept from exc
    finally:
        if cluster is not None:
            from autotune.search.distributed import stop_workers

            stop_workers(cluster.workers)
    shutil.rmtree(staging, ignore_errors=True)
    if config.run.mlflow:
        _log_to_mlflow(config.run.mlflow, output, result, trial_curves, reporter)
    reporter.finished(result, output)
    return FitResult(output, result)


def _interrupted(output: Path, staging: Path, exporting: bool) -> Interrupted:
    """The interrupt as it stands: before the bundle was moved into place, the work directory stays for --resume;
    after (publish delivers a signal held while it moves the bundle), the bundle is complete and the work is done."""
    if exporting and not (staging / "bundle").exists():
        shutil.rmtree(staging, ignore_errors=True)
        return Interrupted(output, staging, published=True)
    return Interrupted(output, staging)


def _log_to_mlflow(uri: str, output: Path, report: dict, trial_curves: list, reporter: Reporter) -> None:
    """--mlflow: once the bundle is published; a tracking server that fails is a warning (the bundle is complete)."""
    from autotune.tracking import log_run

    try:
        run_id = log_run(uri, output, report, trial_curves)
    except Exception as exc:  # noqa: BLE001  (MLflow raises many kinds; none of them undoes the bundle)
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        reporter.warning(f"--mlflow {uri}: the run was not logged ({detail}); the bundle is complete at {output}")
        return
    reporter.note(f"logged to MLflow at {uri}: run {run_id} (its trials as nested runs, the bundle as an artifact)")


def _start_cluster(config: FitConfig, work: Path, started: float, reporter: Reporter):
    """--workers N and/or --role chief: this process serves keras-tuner's oracle; local workers start
    now, so that their loading overlaps ours."""
    if not config.cluster.workers and config.cluster.role != "chief":
        return None
    from autotune.search.distributed import (
        LOOPBACK,
        Cluster,
        describe_bind,
        free_port,
        is_loopback,
        parse_address,
        start_local_workers,
    )

    host, port = parse_address(config.cluster.bind, "--bind") if config.cluster.bind else (LOOPBACK, free_port())
    cluster = Cluster("chief", host, port)
    cluster.on_trial_start = lambda worker, trial: reporter.note(f"{worker} runs trial {trial}")
    cluster.warn = lambda text, *args: reporter.warning(text % args)
    if not is_loopback(host):
        reporter.warning(f"the keras-tuner chief listens on {describe_bind(host, port)}: anyone who can reach that "
                         "port can read this search and send it results (no authentication or TLS)")
    if config.cluster.workers:
        cluster.workers = start_local_workers(config, config.cluster.workers, host, port, work / "workers", started)
        reporter.note(f"search spread over {config.cluster.workers} worker processes (keras-tuner chief on "
                      f"{describe_bind(host, port)}; their logs: {work / 'workers'})")
    if config.cluster.role == "chief":
        reporter.note(f"keras-tuner chief on {describe_bind(host, port)}: start workers on other hosts with the same command "
                      f"and --role worker --oracle {cluster.address} (same --output on a shared filesystem)")
    return cluster


def work(config: FitConfig, reporter: Reporter, started: float | None = None) -> FitResult:
    """--role worker: load and encode the data exactly as the chief does, then run the trials the chief's
    oracle hands out, writing their results into the shared run directory. No bundle: the chief makes it."""
    from autotune.bundle.export import work_dir
    from autotune.search.distributed import Cluster, parse_address, wait_for_chief
    from autotune.search.tune import run_search

    if config.run.output is None:
        raise InputError("--role worker needs --output: the chief's output directory, on a shared filesystem")
    host, port = parse_address(config.cluster.oracle, "--oracle")
    tuner_id = config.cluster.worker_id or f"tuner-{socket.gethostname()}-{os.getpid()}"
    shared = work_dir(Path(os.path.realpath(config.run.output)))  # as the chief resolved it
    wait_for_chief(shared, f"no chief has started a run in {config.run.output} (waited for {shared}); start the chief "
                           "first, with the same --output on a filesystem this host shares")  # a worker started first
    scratch = shared / "workers" / tuner_id
    scratch.mkdir(parents=True, exist_ok=True)
    start = started or time.time()
    loaded = _load(config, reporter)
    setup = search_setup(config, loaded, scratch, reporter, start, preview=False, run_dir=shared)
    reporter.note(f"worker {tuner_id}: asking the chief at {host}:{port} for trials")
    x, y, validation = setup.data
    with setup.compute.policy():
        run_search(setup.searcher, x, y, validation, settings=setup.settings, directory=shared / "search",
                   cluster=Cluster("worker", host, port, tuner_id))
    trials = getattr(setup.searcher, "_durations", [])
    reporter.note(f"worker {tuner_id}: the search is over; {len(trials)} trial(s) run here")
    return FitResult(Path(config.run.output), {"role": "worker", "worker_id": tuner_id, "trials": len(trials)})


def _check_resume(work: Path, loaded: Loaded, config: FitConfig) -> None:
    """A resumed run must search the same data with the same settings, or its old trials mean nothing: the
    hash of both (config.search_hash) must be the interrupted run's; the settings kept beside it name what
    changed."""
    state = {"search_hash": search_hash(config, loaded.fingerprint), "fingerprint": loaded.fingerprint,
             "settings": config.search_settings()}
    marker = work / "run.json"
    if not marker.exists():
        marker.write_text(json.dumps(state))
        return
    before = json.loads(marker.read_text())
    if before.get("search_hash") == state["search_hash"]:
        return
    old = {**before.get("settings", before), "fingerprint": before.get("fingerprint")}  # a flat run.json: older versions
    old.pop("search_hash", None)
    new = {**state["settings"], "fingerprint": state["fingerprint"]}
    changed = [k for k in {**old, **new} if old.get(k) != new.get(k)]
    if not changed and "search_hash" not in before:  # a run.json of a version that kept no hash, same settings
        marker.write_text(json.dumps(state))
        return
    raise InputError(f"--resume: the interrupted run used different {', '.join(changed or ['settings'])}; "
                     "repeat its command exactly, or pass --overwrite to start again")


def member_parameters(search, members: int) -> int:
    """The weights of the networks the final fit will train: its first `members` candidates, the distinct best
    configurations (a Hyperband trial continued from another is the same configuration, counted once)."""
    parameters = {row["trial"]: row.get("parameters") or 0 for row in search.trials}
    return sum(parameters.get(trial, 0) for trial in search.candidate_trials[:members])


def _check_resume_threads(work: Path, threads: dict) -> list[str]:
    """The thread pools (devices.thread_counts) kept in run.json by the run that started in `work`: a resumed run
    with other ones is allowed, with a warning (returned) — the seed then no longer reproduces the remaining trials
    exactly. Apart from _check_resume: the counts need TensorFlow, imported only once the devices are chosen."""
    marker = work / "run.json"
    state = json.loads(marker.read_text())
    before = state.get("threads")
    if before is None:
        marker.write_text(json.dumps({**state, "threads": threads}))
        return []
    if before == threads:
        return []
    changed = ", ".join(f"{key} {before.get(key)} -> {threads.get(key)}" for key in sorted({**before, **threads})
                        if before.get(key) != threads.get(key))
    return [f"--resume: the thread pools differ from the interrupted run's ({changed}); the search goes on, but the "
            "seed reproduces its remaining trials exactly only with the same ones"]


def _train_and_export(config: FitConfig, loaded: Loaded, staging: Path, timer: _Timer, t: float,
                      reporter: Reporter, cluster=None) -> tuple[dict, list]:
    """The stages after loading, in order: search → final fit → evaluate → build the report → write the bundle.
    Returns the report and the learning curves of the trials this process trained (for --mlflow)."""
    setup = search_setup(config, loaded, staging, reporter, timer.started, preview=cluster is None)
    for warning in _check_resume_threads(staging, thread_counts()):
        reporter.warning(warning)
    t = timer.lap("encode", t)
    search = _search(setup, staging, timer, reporter, cluster)
    t = timer.lap("search", t)
    images = loaded.run.report_images
    # the search's estimate of the bundle (kept fold networks: a network per fold of each configuration)
    per_member = setup.settings.folds if setup.searcher.kept_trials and setup.settings.folds > 1 else 1
    check_space(staging, bundle_estimate(member_parameters(search, setup.members) * per_member, images))
    final = _final_fit(config, loaded, setup, search, reporter)
    setup.data = None  # the search's rows, and (release_rows) the final fit's: nothing after this reads them
    # collected at once: the last network's traced loop holds the final fit's rows in a reference cycle
    release_freed(loaded.run.release_rows())
    t = timer.lap("final_fit", t)
    evaluation = _evaluate(loaded, setup, final, reporter)
    t = timer.lap("evaluate", t)
    if config.final.cv:
        evaluation.cross_validation = _cross_validate(config, loaded, setup, search, final, reporter)
        t = timer.lap("cross_validation", t)
    reporter.stage("baseline")
    evaluation.trivial_baseline, evaluation.baseline = _baselines(
        loaded.run, loaded.parts, evaluation.outputs, evaluation.headline[0], config, setup.searcher, reporter)
    t = timer.lap("baseline", t)

    created = datetime.now(UTC).isoformat(timespec="seconds")
    compute = _compute_info(config, setup, cluster)
    metadata = build_metadata(config, loaded, compute, created)
    report = build_report(config, loaded, setup, search, final, evaluation, compute, created,
                          disk_usage(staging / "search"))
    check_space(staging, bundle_estimate(int(final.count_params()), images))  # the final model's
    bundle = staging / "bundle"
    _write_bundle(bundle, loaded, final, evaluation, metadata, report)
    timer.lap("export", t)
    report["timings"] = {**timer.times, **({"earlier_runs": round(timer.earlier, 3)} if timer.earlier else {}),
                         "total": timer.total()}
    report["warnings"] = list(getattr(reporter, "warnings", []))
    write_report(bundle, report)
    return report, list(getattr(setup.searcher, "trial_curves", []))


def _search(setup: SearchSetup, staging: Path, timer: _Timer, reporter: Reporter, cluster=None):
    """The keras-tuner search over the setup's space, on this process or as the chief of a cluster."""
    from autotune.search.tune import run_search

    x, y, validation = setup.data
    searcher = setup.searcher
    with setup.compute.policy():
        searcher.on_trial_end.after = timer.save  # the time so far, for a --resume's report
        search = run_search(searcher, x, y, validation, settings=setup.settings, directory=staging / "search",
                            cluster=cluster, on_start=searcher.on_trial_end.started)
    if search.stopped_by_budget:
        reporter.note(f"time budget reached after {len(search.trials)} trial(s); going on to the final fit")
    return search


def _final_fit(config: FitConfig, loaded: Loaded, setup: SearchSetup, search, reporter: Reporter):
    """The best configurations — their trials' own networks at the best epoch where the search kept them (images),
    else retrained on train + validation — joined into the exported model."""
    from autotune.search.devices import in_float32
    from autotune.train import train_final

    run, compute = loaded.run, setup.compute
    reporter.stage("final fit")
    final_hypermodel = run.hypermodel(1, config.search.patience)
    final_hypermodel.compute = compute
    final_hypermodel.searched_rows = setup.searcher.train_rows_per_fold()  # a --sample search's: its learning rates
    x_all, y_all = run.final_data()
    with compute.policy():
        # The networks train in the run's precision; the model around them (inputs, preprocessing,
        # averaging) is float32, and so are the exported outputs.
        kept = [setup.searcher.kept_network(hp, t) for (hp, _), t in zip(search.candidates, search.candidate_trials,
                                                                            strict=True)]
        final = train_final(final_hypermodel, search.candidates, x_all, y_all, config.seed,
                            lambda networks, members: in_float32(run.assemble, networks, members), setup.members, kept)
    setup.searcher.trial_weights = {}  # in the final model now
    if final.members[0]["rank"]:
        reporter.warning("the best configuration diverged when retrained; the final model uses the next best")
    final.decision = _decide(setup, search, final, reporter)
    return final


def _decide(setup: SearchSetup, search, final, reporter: Reporter) -> dict | None:
    """An imbalanced classifier's decision rule (decision.py): the re-weighting between balanced classes and the class
    frequencies that scores best on the search's validation outputs of the final model's configurations, added to its
    output biases. Networks trained on the rows as they are (--balance adjust) are shifted halfway to balanced classes
    where no validation outputs were kept to choose on."""
    from autotune import decision

    searcher = setup.searcher
    if not searcher.keeps_validation_outputs:
        return None
    kept, trained = searcher.validation_outputs, searcher.trained_alpha
    trials = [search.candidate_trials[m["rank"]] for m in final.members]
    chosen = None
    if any(t not in kept for t in trials) or any(not np.array_equal(kept[t][0], kept[trials[0]][0]) for t in trials):
        reporter.note("the outputs' re-weighting is not chosen on validation outputs: those of the final model's "
                      "configurations were not kept (trained on another worker, in an earlier run, or continued from "
                      "another trial's checkpoint by Hyperband)"
                      + ("; they are shifted halfway to balanced classes" if trained else ""))
    else:
        chosen = decision.choose(setup.metric, kept[trials[0]][0], [kept[t][1] for t in trials],
                                 searcher.class_weight, setup.settings.seed, trained)
    if chosen is None:
        chosen = decision.untested(setup.metric, searcher.class_weight, len(searcher.class_weight), len(trials),
                                   trained)
        if chosen is None:
            return None
    if any(chosen.bias_shift):
        decision.apply(final.networks, chosen.bias_shift)
    note = decision.describe(chosen.to_dict())
    if note:
        reporter.note(note)
    return chosen.to_dict()


def _evaluate(loaded: Loaded, setup: SearchSetup, final, reporter: Reporter) -> Evaluation:
    """The final model's metrics on the test rows, which neither the search nor the final fit saw."""
    from autotune.evaluate.metrics import curves, evaluate, headline

    run, truth = loaded.run, loaded.parts.y_test.to_numpy()
    reporter.stage("evaluate")
    outputs = run.test_outputs(final.model)
    metrics = evaluate(run.task, truth, outputs, run.labels)
    evaluation = Evaluation(outputs, metrics, curves(run.task, truth, outputs, run.labels),
                            headline(run.task, metrics, setup.metric))
    evaluation.importance = run.feature_importance(final.model, evaluation.headline[0], outputs)
    return evaluation


def _cross_validate(config: FitConfig, loaded: Loaded, setup: SearchSetup, search, final,
                    reporter: Reporter) -> dict:
    """--cv: the exported kind of model re-fitted on k folds of train + validation (see evaluate/crossval.py)."""
    from autotune.evaluate.crossval import cross_validate

    reporter.stage(f"cross-validation ({config.final.cv})")
    exported = [(hp, m["epochs"], search.candidate_trials[m["rank"]]) for hp, m in zip(final.hyperparameters,
                                                                                     final.members, strict=True)]
    result = cross_validate(config.final.cv, loaded, exported, setup.searched, config.search.patience, config.seed,
                            config.data.select_features, (final.decision or {}).get("alpha", 0.0))
    if "mean" in result:
        metric = setup.metric
        reporter.note(f"{result['kind']} {metric} {result['mean'][metric]:.4f} ± {result['std'][metric]:.4f}: "
                      f"{result['estimates']}")
    return result


def _compute_info(config: FitConfig, setup: SearchSetup, cluster=None) -> dict:
    return {**setup.compute.to_dict(),
            "workers": config.cluster.workers or 1,
            "trials_by_worker": dict(Counter(cluster.ran_by.values())) if cluster is not None else None,
            "search": "keras-tuner chief/worker" if cluster is not None else "single process",
            "sample": config.search.sample,
            "threads": thread_counts()}


def _write_bundle(bundle: Path, loaded: Loaded, final, evaluation: Evaluation, metadata: dict, report: dict) -> None:
    """The model files and metadata.json into the staging bundle (report.* follow once timings are known)."""
    run = loaded.run
    bundle.mkdir(parents=True)
    run.export(final.model, bundle / "saved_model")
    final.model.save(bundle / "model.keras")
    write_json(bundle / "metadata.json", metadata)
    report.update(run.bundle_extras(bundle, evaluation.outputs))  # e.g. thumbnails of an image run's mistakes


def _baselines(run, parts, outputs: np.ndarray, metric: str, config: FitConfig, searcher,
               reporter: Reporter) -> tuple[dict, dict | None]:
    """The trivial baseline (always; a warning when the model is not clearly better than it) and, unless
    --no-baseline, the non-neural one, each judged against the model by a paired test on the test rows."""
    import pandas as pd

    from autotune.evaluate.baseline import chance_warning, compare, trivial, verdict

    truth = task_of(run.task).truth(parts.y_test.to_numpy(), run.labels)
    trivial_entry, theirs = trivial(run.task, pd.concat([parts.y_train, parts.y_validation]), parts.y_test,
                                    run.labels, metric)
    trivial_entry["comparison"] = compare(run.task, metric, truth, outputs, theirs, config.seed)
    trivial_entry["verdict"] = verdict(trivial_entry["comparison"], run.task,
                                       f"always predicting the {trivial_entry['model']}")
    warning = chance_warning(trivial_entry, run.task)
    if warning:
        reporter.warning(warning)
    if not config.final.baseline:
        return trivial_entry, None
    found = run.baseline(metric, searcher.class_weight, searcher.oversample, searcher.weighs_loss)
    if found is None:
        return trivial_entry, None
    baseline, theirs = found
    baseline["comparison"] = compare(run.task, metric, truth, outputs, theirs, config.seed)
    baseline["verdict"] = verdict(baseline["comparison"], run.task, baseline["name"])
    reporter.note(baseline["verdict"])
    return trivial_entry, baseline
