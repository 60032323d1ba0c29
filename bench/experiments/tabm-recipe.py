"""A diagnostic (bench/README, "TabM on the suite's splits"): one Keras MLP in the recipe of AutoGluon's TabM at k = 1
(numbers quantile-normalised, each number's ramps into a 16-unit embedding of its own, zero-initialised, beside its
value's: piecewise-linear embeddings "version B"; 2 x 512 ReLU, dropout 0.1; AdamW 2e-3, weight decay 3e-4, gradient
norm clipped at 1, a batch by the training rows as TabM's (32 below 2,800), patience 16; no class weights), on
autotune's split and encoding, with autotune's ingredients put back one at a time. Classification only. Nothing in the
product imports it.

    python bench/experiments/tabm-recipe.py hpc_jobs 0,1,2 tabm,std,flat,adam,cw,f1stop,w256

A variant is '+'-joined flags over that recipe ("tabm": none):
  std     the numbers' standardized values (autotune's columns) instead of their quantile-normal transform
  flat    the ramps straight into the first dense layer (autotune) instead of the per-number embeddings
  adam    Adam 1e-3, batch 64, no clipping, patience 10 instead of AdamW 2e-3 (decay 3e-4), clipping, TabM's batch, patience 16
  w256    2 x 256 instead of 2 x 512
  cw      the class-weighted loss (autotune's --balance) instead of none
  f1stop  early stopping on the validation rows' macro-F1 instead of their loss
  noramp  no ramps at all
  bins48  TabM's own encoding: 48 bins at quantiles of the quantile-normal values instead of autotune's ramps
  pool    fit on the training + validation rows, stopping on a holdout of them by AutoGluon's rule (2,500 rows here)
  gclip5  the gradients' global norm clipped at 5 (autotune's CLIP_NORM) instead of each variable's at 1
  zeroflat  the ramps straight into the first dense layer, their rows of its kernel zero-initialised (the embeddings'
          start, without them)
  coarse  each number's quantile-normal value interpolated between its ramps' knots (normal scores of their training
          ranks) instead of over 1,000 quantiles: what the ramps already hold
  coarsemid  as coarse, a knot's rank the middle of its tied training values' (as scikit-learn's transform) instead
          of their top
  coarseends  as coarsemid, the lowest and highest knots at scikit-learn's bounds (normal scores -/+5.2), as its
          transform maps a column's training minimum and maximum
Prints the test rows' macro-F1 and accuracy per seed and variant, then each variant's means.
"""
import os
import sys
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# The coarse quantile-normal values' flags: (a knot at the middle rank of its tied values, the ends at +/-5.2)
COARSE = {"coarse": (False, False), "coarsemid": (True, False), "coarseends": (True, True)}


def f1_stop(x, y, patience):
    """Early stopping on macro-F1 of (x, y), restoring the best epoch's weights."""
    import keras
    from sklearn.metrics import f1_score

    class F1Stop(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best, self.wait, self.weights = -1.0, 0, None

        def on_epoch_end(self, epoch, logs=None):
            score = f1_score(y, self.model.predict(x, verbose=0, batch_size=1024).argmax(1), average="macro")
            if score > self.best:
                self.best, self.wait, self.weights = score, 0, self.model.get_weights()
            else:
                self.wait += 1
                self.model.stop_training = self.wait > patience

        def on_train_end(self, logs=None):
            self.model.set_weights(self.weights)

    return F1Stop()


def network(flags: set, numbers: list, ramps_of: dict, n_other: int, n_classes: int):
    """The recipe's network over (the numbers' values, each number's ramps, the other columns)."""
    import keras

    values = keras.Input((len(numbers),))
    ramps = [keras.Input((max(len(ramps_of[f.name]), 1),)) for f in numbers]
    other = keras.Input((n_other,))
    built = 0  # hidden layers made in the branch below (zeroflat makes the first)
    if "noramp" in flags:
        x = keras.layers.Concatenate()([values, other])
    elif "zeroflat" in flags:
        stacked = keras.layers.Concatenate()([r for r, f in zip(ramps, numbers, strict=True) if ramps_of[f.name]])
        first = keras.layers.Dense(256 if "w256" in flags else 512)(keras.layers.Concatenate()([values, other]))
        x = keras.layers.Add()([first, keras.layers.Dense(first.shape[-1], use_bias=False,
                                                          kernel_initializer="zeros")(stacked)])
        x = keras.layers.Dropout(0.1)(keras.layers.Activation("relu")(x))
        built = 1
    elif "flat" in flags:
        x = keras.layers.Concatenate()([values, *[r for r, f in zip(ramps, numbers, strict=True) if ramps_of[f.name]], other])
    else:
        embedded = []
        for j, f in enumerate(numbers):
            e = keras.layers.Dense(16)(keras.layers.Lambda(lambda t, j=j: t[:, j:j + 1])(values))
            if ramps_of[f.name]:
                e = keras.layers.Add()([e, keras.layers.Dense(16, use_bias=False, kernel_initializer="zeros")(ramps[j])])
            embedded.append(e)
        x = keras.layers.Concatenate()([*embedded, other])
    for _ in range(2 - built):  # each layer made before its dropout (the order the global seed draws them in)
        x = keras.layers.Dense(256 if "w256" in flags else 512, activation="relu")(x)
        x = keras.layers.Dropout(0.1)(x)
    return keras.Model([values, *ramps, other], keras.layers.Dense(n_classes, activation="softmax")(x))


def tabm_batch(rows: int) -> int:
    """TabM's batch size by the training rows (AutoGluon's get_tabm_auto_batch_size, from the TabM paper's choices)."""
    return next((batch for limit, batch in ((2_800, 32), (4_500, 64), (6_400, 128), (32_000, 256), (108_000, 512))
                 if rows < limit), 1024)


def prepare(name: str, seed: int) -> dict:
    """autotune's split and encoding of a suite set, cut into the recipe's inputs."""
    import numpy as np
    import suite
    from sklearn.preprocessing import QuantileTransformer
    from workers import load_split

    from autotune.tabular.encode import _starts, _width, encode_parts, ramp_columns

    spec = suite.BY_NAME[name]
    loaded = load_split(str(suite.output_path(suite.default_cache(), spec)), spec.target, seed, 0.2)
    run, parts = loaded.run, loaded.parts
    run.prepare()
    (x_test,) = encode_parts(run.preprocessor, [parts.test], run.features)
    ramp_set = set(ramp_columns(run.features))
    blocks = {f.name: list(range(at, at + _width(f))) for f, at in _starts(run.features)}
    numbers = [f for f in run.features if f.kind == "numeric" and not f.components]
    number_columns = {blocks[f.name][0] for f in numbers} | ramp_set

    def raw(frame):
        return np.stack([np.where(np.isnan(v := frame[f.name].astype(float).to_numpy()), f.fill, v)
                         for f in numbers], 1)

    values = {part: raw(frame) for part, frame in (("train", parts.train), ("val", parts.validation),
                                                     ("test", parts.test))}
    quantiles = QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, len(parts.train)),
                                    subsample=10**9, random_state=seed).fit(values["train"])
    normal = {part: quantiles.transform(v).astype(np.float32) for part, v in values.items()}
    from scipy.stats import norm

    ordered = np.sort(values["train"], axis=0)

    def coarse(part, middle, ends):  # normal scores at the knots' training ranks, interpolated between them
        columns = []
        for j, f in enumerate(numbers):
            if not f.knots:
                columns.append(normal[part][:, j])
                continue
            knots = np.asarray(f.knots)
            top = np.searchsorted(ordered[:, j], knots, side="right")
            rank = (top + np.searchsorted(ordered[:, j], knots, side="left")) / 2 if middle else top - 0.5
            scores = norm.ppf(np.clip(rank / len(ordered), 1e-3, 1 - 1e-3))
            if ends:
                scores[0], scores[-1] = norm.ppf(1e-7), norm.ppf(1 - 1e-7)
            columns.append(np.interp(values[part][:, j], knots, scores))
        return np.stack(columns, 1).astype(np.float32)

    coarsened = {flag: {part: coarse(part, *how) for part in values} for flag, how in COARSE.items()}
    # TabM's own piecewise-linear encoding: up to 48 bins at the quantiles of the quantile-normal training values
    edges = [np.unique(np.quantile(normal["train"][:, j], np.linspace(0, 1, 49))) for j in range(len(numbers))]
    bins = {part: [np.clip((z[:, j, None] - e[None, :-1]) / np.maximum(e[1:] - e[:-1], 1e-9)[None, :], 0, 1)
                   .astype(np.float32) for j, e in enumerate(edges)] for part, z in normal.items()}
    return {"encoded": {"train": run.arrays["x_train"], "val": run.arrays["x_val"], "test": x_test},
            "normal": normal, "bins": bins, **coarsened,
            "y": {"train": run.arrays["y_train"].astype(int).ravel(), "val": run.arrays["y_val"].astype(int).ravel(),
                  "test": np.array([run.labels.index(str(v)) for v in parts.y_test])},
            "classes": len(run.labels), "numbers": numbers, "values": [blocks[f.name][0] for f in numbers],
            "ramps_of": {f.name: [c for c in blocks[f.name] if c in ramp_set] for f in numbers},
            "other": [c for c in range(x_test.shape[1]) if c not in number_columns]}  # one-hots, missing flags


def feed(data: dict, part: str, flags: set) -> list:
    """The network's inputs for one part: the numbers' values, each number's ramps, the other columns."""
    import numpy as np

    encoded = data["encoded"][part]
    values = (encoded[:, data["values"]] if "std" in flags
              else next((data[flag][part] for flag in COARSE if flag in flags), data["normal"][part]))
    if "bins48" in flags:
        return [values, *data["bins"][part], encoded[:, data["other"]]]
    ramps = [encoded[:, data["ramps_of"][f.name]] if data["ramps_of"][f.name]
             else np.zeros((len(values), 1), np.float32) for f in data["numbers"]]
    return [values, *ramps, encoded[:, data["other"]]]


def main(name: str, seeds: str, variants: str) -> None:
    warnings.filterwarnings("ignore")
    import keras
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.utils.class_weight import compute_class_weight

    results = {}
    for seed in (int(v) for v in seeds.split(",")):
        data = prepare(name, seed)
        y = data["y"]
        weights = compute_class_weight("balanced", classes=np.arange(data["classes"]), y=y["train"])
        for variant in variants.split(","):
            flags = set(variant.split("+"))
            keras.utils.set_random_seed(seed)
            widths = ({f.name: list(range(b.shape[1])) for f, b in zip(data["numbers"], data["bins"]["train"], strict=True)}
                      if "bins48" in flags else data["ramps_of"])
            model = network(flags, data["numbers"], widths, len(data["other"]), data["classes"])
            if "adam" in flags:
                optimizer, patience = keras.optimizers.Adam(1e-3), 10
            else:
                clipping = {"global_clipnorm": 5.0} if "gclip5" in flags else {"clipnorm": 1.0}
                optimizer, patience = keras.optimizers.AdamW(2e-3, weight_decay=3e-4, **clipping), 16
            model.compile(optimizer, "sparse_categorical_crossentropy")
            w = weights if "cw" in flags else np.ones(data["classes"])
            x_fit, y_fit = feed(data, "train", flags), y["train"]
            validation, y_stop = feed(data, "val", flags), y["val"]
            if "pool" in flags:  # AutoGluon's rows: training + validation pooled, a holdout by its rule to stop on
                x_all = [np.concatenate(pair) for pair in zip(x_fit, validation, strict=True)]
                y_all = np.concatenate([y_fit, y_stop])
                rows = len(y_all)
                held = int(rows * (max(0.1, min(0.2, 500 / rows)) if rows < 5000 else max(0.01, min(0.1, 2500 / rows))))
                order = np.random.default_rng(seed).permutation(rows)
                x_fit, y_fit = [x[order[held:]] for x in x_all], y_all[order[held:]]
                validation, y_stop = [x[order[:held]] for x in x_all], y_all[order[:held]]
            batch = 64 if "adam" in flags else tabm_batch(len(y_fit))
            stop = (f1_stop(validation, y_stop, patience) if "f1stop" in flags
                    else keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True))
            started = time.perf_counter()
            history = model.fit(x_fit, y_fit, sample_weight=w[y_fit], epochs=300, batch_size=batch,
                                validation_data=(validation, y_stop, w[y_stop]), verbose=0, callbacks=[stop])
            predicted = model.predict(feed(data, "test", flags), verbose=0).argmax(1)
            f1, accuracy = f1_score(y["test"], predicted, average="macro"), accuracy_score(y["test"], predicted)
            results.setdefault(variant, []).append((f1, accuracy))
            print(f"seed {seed} {variant:18s} F1 {f1:.4f} acc {accuracy:.4f} epochs {len(history.history['loss'])} "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    for variant, rows in results.items():
        rows = np.array(rows)
        print(f"{name} {variant:18s}: F1 {rows[:, 0].mean():.4f} acc {rows[:, 1].mean():.4f}  "
              + " ".join(f"{v:.3f}" for v in rows[:, 0]))


if __name__ == "__main__":
    main(*sys.argv[1:])
