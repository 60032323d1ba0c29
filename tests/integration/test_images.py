"""Image datasets with real Keras models in-process: augmentation, backbones, safe loading. Scanning and
profiling are in tests/unit/test_images.py, the CLI end to end in tests/system/test_images.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autotune.errors import InputError


def test_augmentation_acts_in_training_only():
    import keras

    from autotune.vision.pipeline import augmentation

    layers = augmentation("strong", seed=0)
    assert {type(layer).__name__ for layer in layers} >= {"RandomFlip", "RandomRotation", "RandomZoom",
                                                           "RandomTranslation", "RandomContrast"}
    model = keras.Sequential([keras.Input((16, 16, 3)), *layers])
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)
    assert not np.allclose(np.asarray(model(x, training=True)), x)
    assert augmentation("none", seed=0) == []


def test_image_model_keras_loads_in_safe_mode(digits_folder, tmp_path):
    import keras

    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path / "bundle"
    fit(FitConfig.of(digits_folder, output=out, tuner="random", max_trials=1, epochs=2, augment="strong"))
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 32, 32, 3)
    batch = np.zeros((2, 32, 32, 3), np.float32)
    probabilities = np.asarray(model.predict(batch, verbose=0))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["kind"] == "image" and meta["augmentation"] == "strong" and len(meta["inputs"][0]["mean"]) == 3


@pytest.mark.parametrize("augment", ["auto", "light"])
def test_default_augmentation_leaves_flips_out_for_glyphs_an_explicit_level_keeps_them(tmp_path, augment):
    """Digits whose mirror image is another shape (2, 3, 4, 7): the default (--augment auto) measures that on the
    training images and trains without RandomFlip; --augment light asked for by name still flips."""
    import keras
    from conftest import make_digit_images

    from autotune.config import FitConfig
    from autotune.pipeline import fit

    folder = make_digit_images(tmp_path / "glyphs", classes=(2, 3, 4, 7), per_class=40, broken=False)
    out = tmp_path / "bundle"
    options = {} if augment == "auto" else {"augment": augment}
    fit(FitConfig.of(folder, output=out, tuner="random", max_trials=1, epochs=1, seed=0, **options))
    meta = json.loads((out / "metadata.json").read_text())
    network = keras.saving.load_model(out / "model.keras", safe_mode=True).get_layer("network_0")
    layers = {type(layer).__name__ for layer in network.layers}
    assert meta["augmentation"] == "light" and {"RandomRotation", "RandomZoom"} <= layers
    if augment == "auto":
        check = meta["flip_check"]
        assert meta["flips"] is False and "RandomFlip" not in layers
        assert check["flips"] is False and check["accuracy"] > check["mirrored_accuracy"] and "no flips" in check["reason"]
    else:
        assert meta["flips"] is True and "RandomFlip" in layers and meta["flip_check"] is None


def test_batch_norm_statistics_settle_within_the_patience_on_a_tiny_set():
    """128 training images at 32 a batch are 4 steps an epoch: with Keras's momentum 0.99 the moving statistics that
    validation sees are still mostly their start after 8 epochs (the patience), so the validation loss stays near
    chance (log 4 = 1.39: 1.24 measured); the average over half the patience's steps (0.9375) lets it learn."""
    import keras
    import keras_tuner as kt
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from autotune.vision.pipeline import ImageHyperModel

    digits = load_digits()
    keep = np.isin(digits.target, (2, 3, 4, 7))
    x = np.repeat(np.kron(digits.images[keep], np.ones((2, 2)))[..., None] * 255 / 16, 3, axis=-1).astype(np.float32)
    y = np.searchsorted([2, 3, 4, 7], digits.target[keep]).astype(np.int32)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    train, validation = (x[:128], y[:128]), (x[128:288], y[128:288])
    hypermodel = ImageHyperModel((16, 16), [float(train[0].mean())] * 3, [float(train[0].var())] * 3, "none", 4, 128,
                                 seed=0, patience=8)
    hp = kt.HyperParameters()
    for key, value in dict(conv_blocks=2, filters=16, kernel_size=3, batch_norm=True, pooling="max",
                           global_pooling="avg", dense_units=0, dropout=0.0, optimizer="adam", learning_rate=3e-3,
                           lr_schedule="constant", batch_size=32).items():
        hp.Fixed(key, value)
    keras.utils.set_random_seed(0)
    model = hypermodel.build(hp)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 2 and all(layer.momentum == pytest.approx(0.9375) for layer in norms)
    history = model.fit(hypermodel.train_data(hp, tf.data.Dataset.from_tensor_slices(train)), epochs=8, verbose=0,
                        validation_data=hypermodel.validation_data(tf.data.Dataset.from_tensor_slices(validation)))
    assert history.history["val_loss"][-1] < 1.0
    hypermodel.n_train = 5000  # ~157 steps an epoch: Keras's own 0.99
    assert hypermodel.batch_norm_momentum(hp) == 0.99


def test_backbone_loads_local_weights_frozen_and_reloads_in_safe_mode(tmp_path):
    import keras
    import keras_tuner as kt

    from autotune.vision.pipeline import ImageHyperModel, backbone_model

    donor = backbone_model("mobilenetv3small", (32, 32), None)
    donor.save_weights(tmp_path / "donor.weights.h5")
    base = backbone_model("mobilenetv3small", (32, 32), str(tmp_path / "donor.weights.h5"))
    for a, b in zip(donor.get_weights(), base.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    hypermodel = ImageHyperModel((32, 32), [0.0] * 3, [1.0] * 3, "light", 3, 60, seed=0,
                                 backbone="mobilenetv3small", weights=str(tmp_path / "donor.weights.h5"))
    model = hypermodel.build(kt.HyperParameters())
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)][0]
    assert not inner.trainable and model.count_params() > 900_000
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)


def test_backbone_refuses_missing_weights_and_tiny_images(tmp_path):
    from autotune.vision.pipeline import backbone_model

    with pytest.raises(InputError, match="no such file"):
        backbone_model("mobilenetv3small", (32, 32), str(tmp_path / "nope.h5"))
    with pytest.raises(InputError, match="at least 32×32"):
        backbone_model("efficientnetb0", (16, 16), None)


# --- augmentation acts on raw pixels, before the normalisation (issue 14, item 1) -----------------


def _stripes(per_class: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 classes of noisy stripes in 0..255: horizontal, vertical, diagonal. Flips, small rotations,
    zooms, shifts and contrast/brightness changes keep every class what it is."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    images, labels = [], []
    for label, coordinate in enumerate((i, j, i + j)):
        for _ in range(per_class):
            period = rng.integers(4, 7)  # wide enough for the resampling of a rotation or zoom to keep
            phase = rng.integers(0, period)
            wave = np.where((coordinate + phase) % period < period / 2, 170.0, 85.0)
            noisy = wave[..., None] + rng.normal(0, 20, (size, size, 3))
            images.append(np.clip(noisy, 0, 255))
            labels.append(label)
    return np.asarray(images, np.float32), np.asarray(labels, np.int32)


def _image_hypermodel(x: np.ndarray, augment: str, metric: str | None = None):
    from autotune.vision.pipeline import ImageHyperModel

    mean = x.reshape(-1, 3).mean(0).tolist()
    variance = x.reshape(-1, 3).var(0).tolist()
    return ImageHyperModel(x.shape[1:3], mean, variance, augment, 3, len(x), seed=0, metric=metric)


@pytest.mark.parametrize("level", ["light", "strong"])
def test_augmentation_in_training_keeps_pixel_statistics_and_clips_nothing(level):
    """The layers in front of the first convolution, in training mode, change the images (that is the
    point) but not their per-channel statistics, and pin no pixel at the ends of the range."""
    import keras
    import keras_tuner as kt

    # Smooth images (resampling by rotation and zoom keeps their variance) in 60..195, so that contrast and
    # brightness changes stay inside 0..255: nothing should reach either end.
    rng = np.random.default_rng(1)
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    x = np.stack([np.stack([127.5 + 45 * np.sin(2 * np.pi * (a * i + b * j) / 16 + phase)
                            for a, b, phase in rng.uniform((0.3, 0.3, 0), (1.2, 1.2, 6.3), (3, 3))], -1)
                  for _ in range(64)]).astype(np.float32)
    hypermodel = _image_hypermodel(x, level)
    network = hypermodel.build(kt.HyperParameters())
    front = keras.Model(network.input, network.get_layer("conv_0").input)
    inference = np.asarray(front(x, training=False))
    training = np.asarray(front(x, training=True))
    assert not np.allclose(training, inference)  # augmentation did act
    ends = (np.array([0.0, 255.0])[:, None] - np.array(hypermodel.mean)) / np.sqrt(hypermodel.variance)
    for c in range(3):
        assert abs(training[..., c].mean() - inference[..., c].mean()) < 0.25
        assert 0.7 < training[..., c].std() / inference[..., c].std() < 1.5  # brightness adds spread
        pinned = np.isclose(training[..., c], ends[0, c], atol=1e-3) | np.isclose(training[..., c], ends[1, c],
                                                                                      atol=1e-3)
        assert pinned.sum() == 0
    for layer in network.layers:
        if hasattr(layer, "value_range"):
            assert tuple(layer.value_range) == (0, 255)
    # the normalisation sees what the augmentation produced, so its input is in raw pixels
    order = [layer.name for layer in network.layers]
    assert order.index("normalize") > max(i for i, name in enumerate(order) if name.startswith("aug_"))


def test_augmentation_computes_in_float32_under_a_mixed_policy():
    """Issue 18: under --mixed-precision's bfloat16 (the default on a CPU that computes in it) the augmentation layers
    resampled the raw pixels in bfloat16: 7.1 ms for a batch of 32 28×28 images on one core against 4.0 ms in float32
    (`.dev` timing), a quarter of a small CNN's step, and the pixels rounded to bfloat16's 8 bits (1.0 apart from 128
    to 255). They now compute in float32 whatever the policy; the convolutions keep it."""
    import keras

    from autotune.vision.pipeline import augmentation

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layers = augmentation("strong", seed=0)
        model = keras.Sequential([keras.Input((16, 16, 3)), *layers])
        convolution = keras.layers.Conv2D(4, 3)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert {layer.compute_dtype for layer in layers} == {"float32"} and convolution.compute_dtype == "bfloat16"
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype(np.float32)
    out = np.asarray(model(x, training=True))
    assert out.dtype == np.float32
    as_bfloat16 = np.asarray(keras.ops.cast(keras.ops.cast(out, "bfloat16"), "float32"))
    assert (out != as_bfloat16).mean() > 0.5  # most pixels between bfloat16's steps: not rounded to them


def test_light_augmentation_is_not_worse_than_none_on_stripes():
    """On images whose classes survive every augmentation, training with it must not cost accuracy."""
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    x, y = _stripes(40)
    x_test, y_test = _stripes(20, seed=1)
    scores = {}
    for level in ("none", "light"):
        keras.utils.set_random_seed(0)
        hypermodel = _image_hypermodel(x, level)
        hp = kt.HyperParameters()
        for name, value in {"conv_blocks": 1, "filters": 16, "kernel_size": 3, "batch_size": 16,
                            "global_pooling": "flatten", "dense_units": 0, "dropout": 0.0, "batch_norm": False,
                            "optimizer": "adam", "learning_rate": 1e-3, "lr_schedule": "constant"}.items():
            hp.Fixed(name, value)
        network = hypermodel.build(hp)
        train = hypermodel.train_data(hp, tf.data.Dataset.from_tensor_slices((x, y)))
        network.fit(train, epochs=15, verbose=0)
        scores[level] = float(np.mean(np.argmax(network.predict(x_test, verbose=0), 1) == y_test))
    assert scores["none"] > 0.9, scores  # the task is learnable in this budget
    assert scores["light"] >= scores["none"] - 0.05, scores


def test_the_search_stops_a_trial_far_behind_its_finished_ones_by_the_median_rule(tmp_path):
    """Three trials of a configuration that learns the stripes run their course (early stopping or the epoch limit)
    and become the curves the rule compares with; a trial at a learning rate too small to move (SGD at 1e-5) is then
    stopped at epoch MEDIAN_GRACE, its summary saying so. Without three finished trials the same
    trial runs its 12 epochs. Workers of one search share their finished curves (shared_dir): a worker that has
    finished none of its own stops the same trial by the others' - with --workers 2 on mnist_5k a worker with two
    finished trials let a trial at chance run its 20 epochs, 498 s, beside a search of 756 s (bench/README)."""
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    from autotune.search.stopping import MEDIAN_GRACE

    x, y = _stripes(40)
    x_val, y_val = _stripes(20, seed=1)
    train, validation = tf.data.Dataset.from_tensor_slices((x, y)), tf.data.Dataset.from_tensor_slices((x_val, y_val))
    base = {"conv_blocks": 1, "filters": 16, "kernel_size": 3, "batch_size": 16, "global_pooling": "flatten",
            "dense_units": 0, "dropout": 0.0, "batch_norm": False, "pooling": "max", "optimizer": "adam",
            "learning_rate": 1e-3, "lr_schedule": "constant"}

    def trial(hypermodel, **changes) -> dict:
        hp = kt.HyperParameters()
        for name, value in {**base, **changes}.items():
            hp.Fixed(name, value)
        keras.utils.set_random_seed(0)
        hypermodel.trial_id = f"{len(ids):02d}"  # as the tuner names a trial: one search's ids are its processes'
        ids.append(hypermodel.trial_id)
        return hypermodel.fit(hp, hypermodel.build(hp), train, y, validation_data=validation, epochs=12)

    ids = []
    hypermodel = _image_hypermodel(x, "none")
    stuck = trial(hypermodel, optimizer="sgd", learning_rate=1e-5)
    assert stuck["epochs"] == 12 and "stopped_behind_median" not in stuck  # nothing finished to compare with yet
    hypermodel.finished_curves = []
    hypermodel.shared_dir = tmp_path / "search"  # a worker's, from here on
    learned = [trial(hypermodel, learning_rate=rate) for rate in (1e-3, 2e-3, 3e-3)]
    assert all("stopped_behind_median" not in s and s["val_log_loss"] < 0.5 for s in learned), learned
    assert len(hypermodel.finished_curves) == 3
    stuck = trial(hypermodel, optimizer="sgd", learning_rate=1e-5)
    assert stuck["stopped_behind_median"] == MEDIAN_GRACE and stuck["epochs"] == MEDIAN_GRACE
    assert stuck["val_log_loss"] > stuck["median_at_stop"] and len(hypermodel.finished_curves) == 3

    for shared_dir, stopped in ((tmp_path / "search", True), (None, False)):  # another worker; a process alone
        other = _image_hypermodel(x, "none")
        other.shared_dir = shared_dir
        stuck = trial(other, optimizer="sgd", learning_rate=1e-5)
        assert ("stopped_behind_median" in stuck) == stopped
        assert stuck["epochs"] == (MEDIAN_GRACE if stopped else 12)


def _validation_log_loss(config, bundle) -> float:
    """The log loss of a bundle's model.keras on the validation images of its run's split (the seed's)."""
    import keras

    from autotune.events import Reporter
    from autotune.vision.pipeline import predict_files
    from autotune.vision.run import Images

    parts = Images().load(config, Reporter()).run
    model = keras.models.load_model(bundle / "model.keras", safe_mode=True)
    probabilities = predict_files(model, parts.parts.validation["path"].tolist(), parts.image_size)
    truth = np.array([parts.labels.index(v) for v in parts.parts.y_validation])
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(truth)), truth], 1e-7, 1.0))))


def test_the_final_image_network_is_the_best_trials_own_at_its_best_epoch(digits_folder, tmp_path):
    """Issue 18: an image run's final fit retrained the best configuration on train + validation — a third of a
    default 4,000-digit run, and no better on the test images than the trial's own network (bench/README, "The
    final image network"). The exported network is now the best trial's at its best epoch: its log loss on the
    validation images, through the bundle's model, is the score the search recorded for that trial, and the
    report says so (not retrained, no final-fit curve). A --sample search's networks trained on a sample: its final
    network is retrained on every training image, as before."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    config = FitConfig.of(digits_folder, output=tmp_path / "bundle", tuner="random", max_trials=2, epochs=4, seed=0,
                          baseline=False, ensemble=1)
    report = fit(config).report
    best, member = report["search"]["trials"][0], report["final_model"]["members"][0]
    assert report["search"]["objective"] == "val_log_loss" and not report["search"]["objective_weighted_by_class"]
    assert member["trial"] == best["trial"] and member["from_trial"] and member["epochs"] == best["best_epoch"]
    assert report["final_model"]["history"] == {}
    assert member["train_rows"] == report["final_model"]["train_rows"] == report["split"]["train"]  # not validation
    assert f"trial {best['trial']} (rank 1) as the search trained it" in (tmp_path / "bundle" / "report.md").read_text()

    loss = _validation_log_loss(config, tmp_path / "bundle")
    assert loss == pytest.approx(best["score"], rel=1e-4, abs=1e-5)

    sampled = fit(FitConfig.of(digits_folder, output=tmp_path / "sampled", tuner="random", max_trials=2, epochs=4,
                               seed=0, baseline=False, sample=40)).report
    assert "from_trial" not in sampled["final_model"]["members"][0] and sampled["final_model"]["history"]["loss"]
    assert sampled["final_model"]["train_rows"] == sampled["split"]["train"] + sampled["split"]["validation"]
    assert "retrained on train + validation for" in (tmp_path / "sampled" / "report.md").read_text()


def test_a_default_image_run_averages_its_three_best_trials_own_networks(digits_folder, tmp_path):
    """Issues 17, 18: an image run's final model was its best trial's network alone. Kept from their trials, more
    members cost no training: the default final model averages the 3 best trials' own networks, each at its best
    epoch, none retrained (bench/README, "three kept networks, averaged"). Averaged probabilities score the validation images
    at a log loss no worse than the members' mean (Jensen) — the three as exported, not one of them. A --sample
    search, whose networks would be retrained, keeps one."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit
    from autotune.search.devices import native_bfloat16

    config = FitConfig.of(digits_folder, output=tmp_path / "bundle", tuner="random", max_trials=4, epochs=3, seed=0,
                          baseline=False)
    report = fit(config).report
    # issue 18: --mixed-precision auto trains image CNNs in bfloat16 on a CPU that computes in it (0.75x the wall)
    assert report["compute"]["precision"] == ("mixed_bfloat16" if native_bfloat16() else "float32")
    trials = sorted(report["search"]["trials"], key=lambda t: t["score"])
    members = report["final_model"]["members"]
    assert [m["trial"] for m in members] == [t["trial"] for t in trials[:3]]
    assert all(m["from_trial"] for m in members) and report["final_model"]["history"] == {}

    loss = _validation_log_loss(config, tmp_path / "bundle")
    scores = [t["score"] for t in trials[:3]]
    assert loss <= np.mean(scores) + 1e-5
    assert loss != pytest.approx(scores[0], rel=1e-4, abs=1e-5)  # not the best network alone

    sampled = fit(FitConfig.of(digits_folder, output=tmp_path / "sampled", tuner="random", max_trials=4, epochs=3,
                               seed=0, baseline=False, sample=40)).report
    assert len(sampled["final_model"]["members"]) == 1


def test_local_workers_hand_their_kept_networks_to_the_chiefs_final_model(digits_folder, tmp_path):
    """Issue 18: with --workers N an image run's final fit retrained one network (its trials' networks lived in the
    workers' processes) - a retrain costs a trial, and lands worse than the kept network on some seeds (bench/README,
    "The final image network"). Workers on this host share the run directory: each writes the networks it keeps
    there, and the chief's final model averages the 3 best trials' own networks, as a search in one process does -
    their averaged log loss on the validation images no worse than their mean (so they are the trials' networks,
    not new ones), none retrained."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    config = FitConfig.of(digits_folder, output=tmp_path / "bundle", tuner="random", max_trials=4, epochs=3, seed=0,
                          baseline=False, workers=2)
    report = fit(config).report
    trials = sorted(report["search"]["trials"], key=lambda t: t["score"])
    members = report["final_model"]["members"]
    assert {t["worker"] for t in trials} == {"tuner0", "tuner1"}  # the trials ran in the two workers
    assert [m["trial"] for m in members] == [t["trial"] for t in trials[:3]]
    assert all(m["from_trial"] for m in members) and report["final_model"]["history"] == {}
    loss = _validation_log_loss(config, tmp_path / "bundle")
    assert loss <= np.mean([t["score"] for t in trials[:3]]) + 1e-5


def test_a_seed_repeats_an_image_search_spread_over_local_workers_chosen_by_default(digits_folder, tmp_path):
    """Issue 18: --workers auto (the default) spreads an image search on a CPU with 2 cores or more over 2 local
    workers, and the seed still repeats it: the oracle chose each trial from whichever trials had finished when a
    worker asked, and the median rule compared with whichever curves were written by then. Now trial k is chosen
    from, and compared with, the trials before the lag latest, handed out once they have ended (tune.InOrder): two
    runs give every trial the same values, epochs and score, and the bundle the same test metrics, whichever worker
    finished first."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit
    from autotune.search.devices import usable_cpus
    from autotune.search.distributed import visible_gpu_ids

    if usable_cpus() < 2 or visible_gpu_ids():  # the cores and GPUs auto_workers counts
        pytest.skip("--workers auto starts local workers on a CPU with 2 cores or more")

    def run(name: str) -> dict:
        return fit(FitConfig.of(digits_folder, output=tmp_path / name, max_trials=8, epochs=5, seed=0,
                                baseline=False)).report

    first, second = run("first"), run("second")
    assert first["compute"]["workers"] == 2 and first["compute"]["search"] == "keras-tuner chief/worker"

    def trials(report: dict) -> list:
        return sorted((t["trial"], t["hyperparameters"], t["score"], t["epochs"], t.get("stopped_behind_median"))
                      for t in report["search"]["trials"])

    assert len(trials(first)) == 8 and trials(first) == trials(second)
    assert first["test_metrics"] == second["test_metrics"]


def test_a_worker_reads_the_images_and_statistics_its_chief_prepared(digits_folder, tmp_path, monkeypatch):
    """Issue 18: each local worker decoded every image, measured the channel statistics and ran --augment auto's flip
    check again, as its chief did - three processes doing one job on 2 cores: the trials of a default mnist_5k run
    started 24 s in, against 8 s in one process. A worker now reads what its chief prepared (the decoded images'
    cache and PREPARED) from the run directory: the same images, statistics and augmentation, with the image files
    gone; it waits for them as for the run directory, and prepares its own where its data or settings differ."""
    import shutil
    import threading

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.search.distributed import ChiefLost
    from autotune.vision.run import PREPARED, Images

    folder = shutil.copytree(digits_folder, tmp_path / "photos")

    def loaded(seed: int = 0):
        return Images().load(FitConfig.of(folder, output=tmp_path / "bundle", seed=seed), Reporter()).run

    chief, worker, other, lonely = loaded(), loaded(), loaded(seed=1), loaded()
    run_dir = tmp_path / "run"
    waiting = threading.Thread(target=lambda: worker.prepare(tmp_path / "worker", chief=run_dir))
    waiting.start()  # a worker that starts first waits for its chief's images
    lines = chief.prepare(run_dir)
    waiting.join(timeout=120)
    assert not waiting.is_alive() and (run_dir / PREPARED).is_file()
    assert lines and lines[0].startswith("augmentation (--augment auto): light, no flips")

    def images(run, name: str) -> np.ndarray:
        return np.concatenate([batch[0].numpy() for batch in run.data[name].batch(64)])

    expected = {name: images(chief, name) for name in ("train", "val")}
    shutil.rmtree(folder)  # the worker's images come from the chief's cache, not from the files
    for name in ("train", "val"):
        np.testing.assert_array_equal(images(worker, name), expected[name])
        np.testing.assert_array_equal(worker.data[f"y_{name}"], chief.data[f"y_{name}"])
    assert (worker.mean, worker.variance) == (chief.mean, chief.variance)
    assert (worker.augment, worker.flips, worker.flip_check) == ("light", False, chief.flip_check)
    assert not (tmp_path / "worker" / "cache").exists()  # nothing decoded in the worker's own directory

    # another split (--seed 1) is not the chief's: it prepares its own - here, from files that are gone
    with pytest.raises(Exception, match="photos"):
        other.prepare(tmp_path / "other", chief=run_dir)
    # no chief: the worker stops waiting after the oracle's timeout, saying so
    monkeypatch.setenv("AUTOTUNE_ORACLE_TIMEOUT", "0.5")
    with pytest.raises(ChiefLost, match="prepared"):
        lonely.prepare(tmp_path / "lonely", chief=tmp_path / "nobody")


def test_a_grayscale_network_is_the_rgb_network_on_one_channel():
    """Issue 18: grayscale images train on one channel, a third of the first convolution's and the augmentation's
    work; a plain one-channel kernel trained otherwise than the three-channel one the defaults were tuned with (mnist_5k
    0 / -3 / -2 / -3 test images over 4 seeds). Its first convolution (GrayConv2D) is the RGB network's: the same
    initial weights, the same outputs on the replicated image, the same weights after training."""
    import tomllib
    from pathlib import Path

    import keras
    import keras_tuner as kt

    from autotune.tabular.layers import GrayConv2D
    from autotune.vision.pipeline import ImageHyperModel

    portfolio = Path(__file__).resolve().parents[2] / "recipes" / "portfolios" / "image.toml"
    config = tomllib.loads(portfolio.read_text())["config"][0]  # 32-64-128, batch norm, dropout

    def network(channels: int) -> keras.Model:
        keras.utils.set_random_seed(0)
        hypermodel = ImageHyperModel((16, 16), [100.0] * channels, [900.0] * channels, "none", 3, 48, seed=0,
                                     channels=channels)
        hp = kt.HyperParameters()
        for name, value in config.items():
            hp.Fixed(name, value)
        return hypermodel.build(hp)

    rgb, gray = network(3), network(1)
    assert isinstance(gray.get_layer("conv_0"), GrayConv2D) and gray.input_shape == (None, 16, 16, 1)
    assert all(np.array_equal(a, b) for a, b in zip(rgb.get_weights(), gray.get_weights(), strict=True))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (48, 16, 16, 1)).astype(np.float32), rng.integers(0, 3, 48)
    np.testing.assert_allclose(gray.predict(x, verbose=0), rgb.predict(np.repeat(x, 3, -1), verbose=0), atol=1e-5)
    gray_curve = gray.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    rgb_curve = rgb.fit(np.repeat(x, 3, -1), y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(gray_curve, rgb_curve, rtol=1e-4)
    for a, b in zip(rgb.get_weights(), gray.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_a_grayscale_networks_first_convolution_is_the_rgb_networks_under_bfloat16():
    """Under mixed bfloat16 (`--mixed-precision auto` on a CPU with AVX512-BF16 or AMX, where oneDNN convolves, and on
    GPUs) the RGB network's first convolution multiplies bfloat16 pixels by its three bfloat16 kernels and sums the
    products in float32, rounding once at the end. GrayConv2D summed the three kernels in bfloat16 first - one rounding
    more - and 37 % of its outputs differed from the RGB network's (by up to 8 bfloat16 steps); the digits set lost
    2 / 2 / 0 test images of 360 on the suite's seeds 0-2 against the RGB network. It sums and convolves in float32:
    the RGB network's arithmetic, checked here against that arithmetic done exactly (float64, one rounding to bfloat16,
    then the bias added in bfloat16) - not against TensorFlow's bfloat16 convolution, which sums otherwise where
    oneDNN does not run it (TF_ENABLE_ONEDNN_OPTS=0, CPUs without bfloat16; the product then trains in float32)."""
    import keras
    import tensorflow as tf

    from autotune.tabular.layers import GrayConv2D

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 28, 28, 1)).astype(np.float32)
    gray = GrayConv2D(32, 3, padding="same", dtype="mixed_bfloat16")
    gray.build((None, 28, 28, 1))
    kernel = rng.normal(size=(3, 3, 3, 32)).astype(np.float32) * 0.2
    bias = rng.normal(size=32).astype(np.float32) * 0.2
    gray.set_weights([kernel, bias])
    out = gray(x)
    assert out.dtype == "bfloat16"

    def bfloat16(a):
        return tf.cast(tf.cast(a, tf.bfloat16), tf.float64)

    rgb_x, rgb_kernel = bfloat16(np.repeat(x, 3, -1)), bfloat16(kernel)  # what the RGB network multiplies
    exact = tf.nn.conv2d(rgb_x, rgb_kernel, 1, "SAME")  # its products summed without rounding
    expected = np.asarray(tf.cast(tf.cast(exact, tf.bfloat16) + tf.cast(bias, tf.bfloat16), tf.float32))
    out = np.asarray(keras.ops.cast(out, "float32"))
    assert np.mean(out != expected) < 1e-4  # 0 or a few of 1.6 million (summed in bfloat16: 37 %)
    largest = np.maximum(np.abs(np.asarray(exact)), np.maximum(np.abs(out), np.abs(expected)))
    step = 2.0 ** (np.floor(np.log2(largest + 1e-30)) - 7)  # bfloat16's step there (before or after the bias)
    # a near-tie of the convolution's rounding gone the other way (float32's sum against the exact one), then the
    # bias's rounding: at most 2 steps (summed in bfloat16: up to 8)
    assert np.all(np.abs(out - expected) <= 2 * step)


def test_an_image_configurations_cost_is_its_networks_convolution_multiply_adds():
    """The cost by which trials side by side order the portfolio (ImageHyperModel.cost) is what the network it builds
    computes: the multiply-adds of its convolutions per image; the shipped portfolio's costliest is its 64-128-256 CNN."""
    import keras_tuner as kt

    from autotune.search import recipes
    from autotune.vision.pipeline import ImageHyperModel

    hypermodel = ImageHyperModel((28, 28), [0.0] * 3, [1.0] * 3, "none", 10, 100, seed=0)
    costs = []
    for entry in recipes.portfolio("image"):
        hp = kt.HyperParameters()
        for name, value in entry.items():
            hp.Fixed(name, value)
        network = hypermodel.build(hp)
        convolutions = [layer for layer in network.layers if type(layer).__name__ == "Conv2D"]
        assert len(convolutions) == entry["conv_blocks"]
        costs.append(hypermodel.cost(dict(hp.values)))
        assert costs[-1] == sum(np.prod(layer.output.shape[1:3]) * np.prod(layer.kernel.shape) for layer in convolutions)
    assert int(np.argmax(costs)) == 2 and recipes.portfolio("image")[2]["filters"] == 64


def test_an_image_runs_time_budget_keeps_no_time_back_for_a_retrain_it_does_not_make(digits_folder, tmp_path):
    """The final image network is its trial's (not retrained): a --time-budget keeps back the seconds to build it
    and export, not those of a retrain on train + validation — which a --sample search's final fit still makes, so
    its budget keeps them."""
    import time

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.search.prepare import search_setup
    from autotune.vision.run import Images

    reserves = {}
    for sample in (None, 40):
        config = FitConfig.of(digits_folder, output=tmp_path / "bundle", time_budget=600.0, sample=sample, seed=0)
        loaded = Images().load(config, Reporter())
        setup = search_setup(config, loaded, tmp_path / f"work-{sample}", Reporter(), time.time())
        reserves[sample] = setup.settings.reserve
        assert setup.searcher.kept_trials == (0 if sample else 3)  # the default final model's members
    kept, retrained = reserves[None], reserves[40]
    assert (kept.networks, retrained.networks) == (0, 1)
    assert kept.seconds([20]) == pytest.approx(kept.after)
    assert retrained.seconds([20]) > retrained.after + 20 * retrained.epoch


def test_a_trial_keeps_its_best_epochs_weights_counted_from_the_configurations_start():
    """kept_trials: each trial's network at the epoch its summary scores it at, for the final model; only the best
    kept_trials trials' are held. A trial Hyperband continues from a checkpoint (initial_epoch) counts its epochs
    from the configuration's start, as Keras does: its weights are kept at that epoch number too."""
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    x, y = _stripes(20)
    x_val, y_val = _stripes(10, seed=1)
    train, validation = tf.data.Dataset.from_tensor_slices((x, y)), tf.data.Dataset.from_tensor_slices((x_val, y_val))
    hypermodel = _image_hypermodel(x, "none", metric="log_loss")  # the search's objective
    hypermodel.kept_trials = 1
    summaries = {}
    for trial, rate, start, epochs in (("a", 3e-3, 0, 4), ("b", 1e-5, 3, 8), ("c", 3e-3, 3, 8)):
        hp = kt.HyperParameters()
        for name, value in {"conv_blocks": 1, "filters": 8, "kernel_size": 3, "batch_size": 16, "dense_units": 0,
                            "global_pooling": "avg", "dropout": 0.0, "batch_norm": False, "pooling": "max",
                            "optimizer": "adam", "learning_rate": rate, "lr_schedule": "constant"}.items():
            hp.Fixed(name, value)
        keras.utils.set_random_seed(0)
        model = hypermodel.build(hp)
        hypermodel.trial_id = trial
        summaries[trial] = hypermodel.fit(hp, model, train, y, validation_data=validation,
                                          epochs=start + epochs, initial_epoch=start)
        if trial == "a":
            kept = hypermodel.trial_weights["a"][1]
            at_end = model.get_weights()
    best = min(summaries, key=lambda t: summaries[t]["val_log_loss"])
    assert list(hypermodel.trial_weights) == [best] == ["c"]  # trained longest, at a rate that learns
    assert summaries["c"]["best_epoch"] > 3  # counted from the configuration's start
    # a's weights are those of its best epoch: at its last epoch only if that was its best
    same = all(np.array_equal(k, e) for k, e in zip(kept, at_end, strict=True))
    assert same == (summaries["a"]["best_epoch"] == summaries["a"]["epochs"])


def test_an_image_run_trains_its_trials_at_most_16_epochs_annealing_the_rate_over_them(digits_folder, tmp_path):
    """Issue 18: image trials ran up to 60 epochs under early stopping (the 4,000-digit run's costliest portfolio CNN
    54 of them); cosine annealing over 20 was, configuration by configuration, about as accurate on the development
    image sets in 0.3-0.95 of the time (bench/README, "Images in 20 epochs", where the default run on mnist_5k fell
    ~0.006 on two seeds). 16 epochs then held textures and digits within a test image a set and seed in 0.82-0.90x
    the wall and brought the 4,000 digits under 5 minutes (bench/README, "Image trials in 16 epochs"). An image run's
    default cap is 16 epochs and its first trial (the portfolio's first CNN) anneals over them; a table's cap stays 60,
    and --epochs sets the length either way."""
    from conftest import DATA

    from autotune.config import FitConfig
    from autotune.pipeline import fit

    report = fit(FitConfig.of(digits_folder, output=tmp_path / "bundle", max_trials=1, seed=0,
                              baseline=False)).report
    trial = report["search"]["trials"][0]
    assert report["search"]["epochs"] == 16 and trial["epochs"] == 16
    assert trial["hyperparameters"]["lr_schedule"] == "cosine" and trial["hyperparameters"]["lr_horizon"] == 16

    capped = fit(FitConfig.of(digits_folder, output=tmp_path / "capped", max_trials=1, epochs=3, seed=0,
                              baseline=False)).report
    assert capped["search"]["epochs"] == 3 and capped["search"]["trials"][0]["hyperparameters"]["lr_horizon"] == 3
    table = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "table", max_trials=1,
                             search_folds=1, ensemble=1, seed=0, baseline=False)).report
    assert table["search"]["epochs"] == 60 and "lr_horizon" not in table["search"]["trials"][0]["hyperparameters"]
