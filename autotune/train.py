"""The final model: the best configuration retrained on train+validation, then joined to the
preprocessing layers into one model from raw columns to predictions."""
from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import keras_tuner as kt
import numpy as np

from autotune.errors import NoResultError
from autotune.search.devices import usable_cpus
from autotune.search.memory import release_freed
from autotune.search.space import SearchHyperModel
from autotune.task import task_of


@dataclass(frozen=True)
class TargetScale:
    """Regression targets are standardised for training; the exported model undoes it."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScale:
        std = float(np.std(y))
        return cls(float(np.mean(y)), std if std > 0 else 1.0)

    def apply(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.mean) / self.std).astype(np.float32)


@dataclass
class FinalModel:
    networks: list[keras.Model]  # encoded features -> outputs, one per ensemble member
    model: keras.Model  # raw named columns -> probabilities (classification) or value (regression)
    members: list[dict]  # per network: its configuration's place among the search's candidates (0 = best), epochs,
    # the rows a step it trained at (batch_rows: the searched batch size, or more on data an epoch of which would
    # exceed MAX_STEPS_PER_EPOCH steps) and its learning rate, with the search's (searched_batch_rows,
    # searched_learning_rate: they differ after a --sample search, SearchHyperModel.trained_rate)
    seconds: float
    history: dict  # the best configuration's training curves
    decision: dict | None = None  # decision.Decision.to_dict(): the output biases' shift, chosen on validation outputs
    hyperparameters: list = field(default_factory=list)  # per network: the configuration as trained (its rate)
    threads: int = 1  # the most members that trained side by side (train_final)

    def count_params(self) -> int:
        return sum(n.count_params() for n in self.networks)


def plain_network(hypermodel: SearchHyperModel, hp: kt.HyperParameters, weights: list, name: str) -> keras.Model:
    """A configuration's network built outside any distribution strategy, holding these weights, under a name of its
    own (several sit side by side in one model): the exported copy of a network trained across devices, or of a
    trial's at its best epoch."""
    built = hypermodel.build(hp)
    built.set_weights(weights)
    return keras.Model(built.input, built.output, name=name)


def final_fit(hypermodel: SearchHyperModel, hp: kt.HyperParameters, x, y, epochs: int, seed: int,
              name: str = "network") -> tuple[keras.Model, dict]:
    """Build one configuration anew and train it on x, y for a fixed number of epochs (the search's best), with its
    seed."""
    built, history = _fit_built(hypermodel, hp, x, y, epochs, seed)
    return _named(hypermodel, hp, built, name), history


def _fit_built(hypermodel: SearchHyperModel, hp: kt.HyperParameters, x, y, epochs: int, seed: int) -> tuple:
    """(the built network, its history): built from the seed, then trained."""
    built = _seeded_build(hypermodel, hp, seed)
    return built, hypermodel.train_alone(hp, built, x, y, epochs, seed)


def _seeded_build(hypermodel: SearchHyperModel, hp: kt.HyperParameters, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    with hypermodel.scope():
        return hypermodel.build(hp)


def _named(hypermodel: SearchHyperModel, hp: kt.HyperParameters, built: keras.Model, name: str) -> keras.Model:
    """A trained network under a name of its own, so several can sit side by side in one model; trained across
    devices (mirrored variables), a plain copy holding its weights."""
    if hypermodel.compute is not None and hypermodel.compute.strategy is not None:
        return plain_network(hypermodel, hp, built.get_weights(), name)
    return keras.Model(built.input, built.output, name=name)


def inference_model(preprocessor: keras.Model, networks: list[keras.Model], task: str,
                    scale: TargetScale | None = None, encodings: list[tuple] | None = None) -> keras.Model:
    """Raw inputs -> preprocessing layers -> trained network(s), averaged (-> de-standardised value). `encodings`, if
    given, one (preprocessor, target scale) per network, each taking its inputs from `preprocessor`'s (a kept fold
    network's own fold's: TabularRun.assemble); else every network is behind `preprocessor` and `scale`."""
    inputs = {t.name: keras.Input(shape=(1,), dtype=t.dtype, name=t.name) for t in preprocessor.inputs}
    encodings = encodings or [(preprocessor, scale)] * len(networks)
    rescaled = task_of(task).standardised_target and scale is not None
    features = {}  # preprocessor's id -> its outputs: each preprocessing once, whatever the networks behind it
    outputs = []
    for i, (network, (encode, its_scale)) in enumerate(zip(networks, encodings, strict=True)):
        if id(encode) not in features:
            features[id(encode)] = encode({t.name: inputs[t.name] for t in encode.inputs})
        out = network(features[id(encode)])
        if rescaled and its_scale != scale:  # a fold's own target scale, undone before averaging
            out = keras.layers.Rescaling(its_scale.std / scale.std, offset=(its_scale.mean - scale.mean) / scale.std,
                                         name=f"fold_scale_{i}")(out)
        outputs.append(out)
    outputs = keras.layers.Average(name="average")(outputs) if len(outputs) > 1 else outputs[0]
    if rescaled:
        outputs = keras.layers.Rescaling(scale.std, offset=scale.mean, name="value")(outputs)
    return keras.Model(inputs, outputs, name="autotune_model")


@dataclass(frozen=True)
class FoldNetworks:
    """A cross-validated trial's own networks, one per fold at its best epoch `epochs[i]` (TabularHyperModel.kept_network),
    each trained on `rows[i]` rows and fed its fold's encoding in the exported model (the run's assemble)."""

    networks: list[keras.Model]
    rows: list[int]
    epochs: list[int]


def train_final(hypermodel: SearchHyperModel, candidates: list, x, y, seed: int,
                assemble: Callable[[list[keras.Model], list[dict]], keras.Model], members: int = 1,
                trial_weights: list | None = None, threads: int | None = None) -> FinalModel:
    """Retrain the best configuration on all training rows for its best epoch count (at the hypermodel's
    trained_rate: the searched learning rate, scaled up where the search trained at fewer rows a step); with
    members > 1, also the next best ones, each for its own epoch count, and average their outputs. A candidate
    whose trial's weights at its best epoch are given (`trial_weights`, per candidate, None where not kept:
    SearchHyperModel.kept_trials) is that network as its trial trained it, not retrained — or its FoldNetworks, each a
    network of the final model (a member with its "fold").

    On small data the search's ranking of its top few configurations is mostly noise, and one retrain
    can land far from the score the search measured; averaging a few good, different networks removes
    most of that luck. A network whose loss diverges is retrained once from another seed; a
    configuration that still diverges gives way to the next candidate. `assemble` joins the trained
    networks into the model that is exported. Members the hypermodel can train side by side (trains_beside) train
    in up to `threads` threads at once (default: the usable cores), each as it would alone.
    """
    keras.backend.clear_session()
    start = time.perf_counter()
    threads = usable_cpus() if threads is None else threads
    rows_bytes = sum(getattr(part, "nbytes", 0) for part in (x.values() if isinstance(x, dict) else [x]))
    fitted, used = [], []  # (network, history, member, hp) in candidates' order; threads each retrain took
    ranks = set()  # the candidates among `fitted` (a kept trial's fold networks are one candidate)
    following = 0  # the next candidate to try
    while following < len(candidates) and len(ranks) < members:
        # the candidates that would be tried one by one until `members` succeed, if all of these succeed
        wave = range(following, min(len(candidates), following + members - len(ranks)))
        following = wave.stop
        plans = [_plan(hypermodel, candidates[rank], rank, trial_weights[rank] if trial_weights else None)
                 for rank in wave]
        retrained, took = _retrain(hypermodel, [(p[0], p[1], p[2]["epochs"]) for p in plans if p[3] is None], x, y,
                                   seed, rows_bytes, threads)
        used += took
        for rank, hp, member, kept in plans:
            if isinstance(kept, FoldNetworks):  # each fold's network at its own best epoch
                for fold, (network, rows, epoch) in enumerate(zip(kept.networks, kept.rows, kept.epochs, strict=True)):
                    fitted.append((keras.Model(network.input, network.output, name=f"network_{len(fitted)}"), {},
                                   member | {"from_trial": True, "fold": fold, "train_rows": rows, "epochs": epoch}, hp))
            elif kept is not None:  # trained on the training split, its epoch chosen on validation
                member |= {"from_trial": True,
                           "train_rows": hypermodel.searched_rows or hypermodel.train_rows_per_fold()}
                fitted.append((plain_network(hypermodel, hp, kept, f"network_{len(fitted)}"), {}, member, hp))
            elif rank in retrained:
                built, history = retrained[rank]
                fitted.append((_named(hypermodel, hp, built, f"network_{len(fitted)}"), history, member, hp))
            else:
                continue  # diverged from both seeds
            ranks.add(rank)
    if not fitted:
        raise NoResultError(f"the final model diverged for each of the {len(candidates)} best configurations; "
                            "try --seed with another value or a narrower search space (--recipe)")
    networks, trained = [n for n, _, _, _ in fitted], [m for _, _, m, _ in fitted]
    return FinalModel(networks, assemble(networks, trained), trained, time.perf_counter() - start,
                      fitted[0][1], hyperparameters=[hp for _, _, _, hp in fitted], threads=max(used, default=1))


def _plan(hypermodel: SearchHyperModel, candidate: tuple, rank: int, kept) -> tuple:
    """(rank, the configuration as the final fit trains it (its trained_rate), its member entry, the trial's own
    network if kept) for one candidate (configuration, epochs)."""
    searched, epochs = candidate
    rate = float(searched.get("learning_rate")) if kept is not None else hypermodel.trained_rate(searched)
    hp = searched
    if rate != searched.get("learning_rate"):
        hp = searched.copy()
        hp.values["learning_rate"] = rate
    member = {"rank": rank, "epochs": epochs,
              "batch_rows": hypermodel.searched_batch(hp) if kept is not None else hypermodel.global_batch(hp),
              "learning_rate": rate, "searched_batch_rows": hypermodel.searched_batch(hp),
              "searched_learning_rate": float(searched.get("learning_rate"))}
    return rank, hp, member, kept


def _retrain(hypermodel: SearchHyperModel, jobs: list[tuple], x, y, seed: int, rows_bytes: int,
             threads: int) -> tuple[dict, list[int]]:
    """Each job (rank, configuration, epochs) built and trained on x, y: rank -> (built network, history) of its first
    attempt whose loss stayed finite (a second from seed + 1), absent where both diverged; and the threads each
    round of attempts trained in. Jobs the hypermodel trains beside each other (trains_beside) train in a thread
    pool, each built first from its seed as it would be alone (the build draws from the global seed; the training
    from the network's own generator), so a seed gives the same networks with any number of threads."""
    from concurrent.futures import ThreadPoolExecutor

    width = int(x.shape[1]) if hasattr(x, "shape") and len(x.shape) == 2 else 0
    done, took = {}, []
    for attempt in range(2):
        todo = [job for job in jobs if job[0] not in done]
        beside = [job for job in todo if hypermodel.trains_beside(job[1], width)]
        if min(threads, len(beside)) < 2:
            beside = []
        results = {}
        if beside:
            built = {rank: _seeded_build(hypermodel, hp, seed + attempt) for rank, hp, _ in beside}
            took.append(min(threads, len(beside)))
            with ThreadPoolExecutor(took[-1]) as pool:
                running = {rank: pool.submit(hypermodel.train_alone, hp, built[rank], x, y, epochs, seed + attempt)
                           for rank, hp, epochs in beside}
                results = {rank: (built[rank], future.result()) for rank, future in running.items()}
            # the traced loop holds the rows as a constant in reference cycles: collected before the next members
            # train where they are large (~0.5 GB a member on 1,000,000 rows; a trial's are collected by
            # clear_session) - a collection walks every live object, ~0.2 s a member on a small run
            release_freed(rows_bytes)
        for rank, hp, epochs in todo:
            if rank not in results:
                results[rank] = _fit_built(hypermodel, hp, x, y, epochs, seed + attempt)
                took.append(1)
                release_freed(rows_bytes)
        done |= {rank: result for rank, result in results.items() if np.isfinite(result[1]["loss"]).all()}
    return done, took


PREDICT_ROWS = 16384  # raw rows per call of the traced model in predict_raw (see encode.ENCODE_ROWS)
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its traced call (predict_raw)


def predict_raw(model: keras.Model, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The exported model's outputs for raw columns (the SavedModel's path, in-process): blocks of rows through one
    traced call of the model (traced once per model, for any number of rows). Keras's `predict` over a tf.data
    pipeline of the raw columns gave the same numbers 14× slower (200,000 rows × 50 columns: 3.7 s against 0.27 s);
    the test rows' outputs and the permutation importance (~500,000 shuffled rows) go through here."""
    import tensorflow as tf

    from autotune.tabular.encode import raw_blocks

    call = _TRACED.get(model)
    if call is None:
        signature = {t.name: tf.TensorSpec((None, 1), t.dtype, name=t.name) for t in model.inputs}
        held = weakref.ref(model)  # the table's value must not hold its key, or the model never goes
        call = _TRACED[model] = tf.function(lambda x: held()(x, training=False), input_signature=[signature])
    outputs = [np.asarray(call(block)) for block in raw_blocks(columns, PREDICT_ROWS)]
    return np.concatenate(outputs) if outputs else np.zeros((0, *model.output.shape[1:]), np.float32)
