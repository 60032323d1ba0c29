"""Images in TensorFlow: the tf.data pipeline, per-channel statistics, augmentation, the CNN
search space, and the exported model that takes encoded image bytes.

Decoding and resizing are one function (`decode`) used by training, `autotune predict` and the
SavedModel's serving signature alike, so the three cannot drift.
"""
from __future__ import annotations

from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf

from autotune.bundle.export import write_saved_model
from autotune.config import BACKBONES
from autotune.search.data import even_batch
from autotune.search.hyperparameters import choose
from autotune.search.space import SearchHyperModel
from autotune.tabular.layers import GrayConv2D


def backbone_model(name: str, image_size: tuple[int, int], weights: str | None) -> keras.Model:
    """A Keras Applications network without its top. Weights come only from a local file the user
    passes (weights=None otherwise): nothing is ever downloaded. It rescales 0..255 input itself."""
    from autotune.errors import InputError

    if min(image_size) < 32:
        raise InputError(f"--backbone {name} needs images of at least 32×32; raise --image-size")
    if weights is not None and not Path(weights).is_file():
        raise InputError(f"--weights {weights}: no such file; pass the path of a saved .weights.h5 file")
    application = getattr(keras.applications, BACKBONES[name])
    try:
        return application(include_top=False, weights=weights, input_shape=(*image_size, 3), pooling="avg")
    except ValueError as exc:
        raise InputError(f"--weights {weights}: does not fit {BACKBONES[name]} without its top ({exc})") from None
SHUFFLE_BUFFER = 2048


def decode(data: tf.Tensor, size: tuple[int, int], channels: int = 3) -> tf.Tensor:
    """Encoded JPEG/PNG/BMP/GIF bytes -> float32 [height, width, channels] in 0..255 (3: grayscale becomes RGB; 1: a
    colour image becomes its luminance; a GIF gives its first frame). Decoded as RGB either way - TensorFlow decodes
    no BMP or GIF to one channel - and a gray image's three equal channels give its own values back (in uint8)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(tf.cast(image, tf.float32), size, antialias=True)
    return tf.ensure_shape(image, (*size, channels))


def image_dataset(paths: list[str], labels: np.ndarray | None, size: tuple[int, int], cache: Path | None,
                  channels: int = 3):
    """Unbatched (image, label) pairs read from disk; decoded once, then cached to a file so a
    dataset larger than memory still trains."""
    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(lambda p: decode(tf.io.read_file(p), size, channels), num_parallel_calls=tf.data.AUTOTUNE)
    if labels is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(labels.astype(np.int32)))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        ds = ds.cache(str(cache))
    return ds


def subset(ds, indices, size: int):
    """The elements of an unbatched dataset of `size` elements at these positions, in their order (one
    pass over it; a cached dataset is read from its cache)."""
    mask = np.zeros(size, bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    table = tf.constant(mask)
    picked = ds.enumerate().filter(lambda i, item: table[i]).map(lambda i, item: item)
    return picked.apply(tf.data.experimental.assert_cardinality(int(mask.sum())))


def oversample_images(ds, labels: np.ndarray, seed: int):
    """--balance oversample: each image of a smaller class repeated so that every class reaches the
    largest one's count; which images get the extra copies is drawn as search.data.oversample draws rows.
    `labels` are the dataset's labels, in its order. Apply to training data only."""
    from autotune.search.data import oversample

    labels = np.asarray(labels)
    index, _ = oversample(np.arange(len(labels)), labels, seed)
    repeats = tf.constant(np.bincount(index, minlength=len(labels)).astype(np.int64))
    out = ds.enumerate().flat_map(lambda i, item: tf.data.Dataset.from_tensors(item).repeat(repeats[i]))
    return out.apply(tf.data.experimental.assert_cardinality(len(index)))


def channel_statistics(ds) -> tuple[list[float], list[float]]:
    """Per-channel mean and variance over a dataset of (image, label), streamed in batches."""
    channels = ds.element_spec[0].shape[-1]
    total, total_sq, count = np.zeros(channels), np.zeros(channels), 0
    for images, _ in ds.batch(256):
        pixels = images.numpy().reshape(-1, channels).astype(np.float64)
        total += pixels.sum(0)
        total_sq += (pixels**2).sum(0)
        count += len(pixels)
    mean = total / count
    return mean.tolist(), np.maximum(total_sq / count - mean**2, 1e-6).tolist()


PIXEL_RANGE = (0, 255)


def augmentation(level: str, seed: int, flips: bool = True) -> list[keras.layers.Layer]:
    """Keras preprocessing layers that act only in training (inference passes images through). They take
    raw pixels in PIXEL_RANGE: contrast and brightness clip to it, so they must come before normalisation
    (after it, every below-mean pixel would be clipped to 0 in training only). `flips`: mirror left to right
    (False where a mirrored image is another class, as for glyphs: vision.flips). They compute in float32 under any
    policy: in bfloat16 the resampling of 32 28×28 images took 7.1 ms a step on one core against 4.0 ms, and rounded
    the pixels to bfloat16's 8 bits."""
    if level not in ("none", "light", "strong"):  # "auto" is resolved on the training images (ImageRun.prepare)
        raise ValueError(f"augmentation level {level!r}: none, light or strong")
    if level == "none":
        return []
    strong = level == "strong"
    f32 = {"dtype": "float32"}
    layers = [keras.layers.RandomFlip("horizontal", seed=seed, name="aug_flip", **f32)] if flips else []
    layers += [
        keras.layers.RandomRotation(0.1 if strong else 0.05, seed=seed + 1, name="aug_rotate", **f32),
        keras.layers.RandomZoom(0.2 if strong else 0.1, seed=seed + 2, name="aug_zoom", **f32),
        keras.layers.RandomTranslation(0.1 if strong else 0.05, 0.1 if strong else 0.05, seed=seed + 3,
                                       name="aug_translate", **f32),
        keras.layers.RandomContrast(0.3 if strong else 0.1, value_range=PIXEL_RANGE, seed=seed + 4,
                                    name="aug_contrast", **f32),
    ]
    if strong:
        layers.append(keras.layers.RandomBrightness(0.2, value_range=PIXEL_RANGE, seed=seed + 5,
                                                    name="aug_brightness", **f32))
    return layers


def conv_blocks(blocks: int, filters: int, image_size: tuple[int, int]) -> list[tuple[int, tuple[int, int], bool]]:
    """The searched CNN's conv blocks: (filters, the (height, width) it convolves at, whether it pools by 2 after) —
    the filters doubling from `filters` up to 256, "same" padding, pooled while the map is at least 4 pixels a side."""
    (height, width), plan = image_size, []
    for i in range(blocks):
        pooled = min(height, width) >= 4
        plan.append((min(filters * 2**i, 256), (height, width), pooled))
        if pooled:
            height, width = height // 2, width // 2
    return plan


class ImageHyperModel(SearchHyperModel):
    """A CNN: conv blocks, filters, kernel size, batch norm, pooling, dropout, global pooling or
    flatten, a dense head, optimizer and learning-rate schedule, batch size. Augmentation (on raw pixels)
    and normalisation (fixed per-channel statistics of the training split) are its first layers."""

    median_stopping = True  # a trial far behind the finished ones stops early (search/stopping.py)
    reuses_trial_weights = True  # the final network is the best trial's at its best epoch (SearchHyperModel)

    def __init__(self, image_size: tuple[int, int], mean: list[float], variance: list[float], augment: str,
                 n_outputs: int, n_train: int, seed: int, patience: int = 8, on_trial_end=None,
                 space: dict | None = None, backbone: str | None = None, weights: str | None = None,
                 metric: str | None = None, flips: bool = True, channels: int = 3):
        super().__init__(n_outputs, "classification", n_train, seed, patience, 1, on_trial_end, name="cnn",
                         space=space, kind="image", metric=metric)
        self.backbone, self.weights, self.flips, self.channels = backbone, weights, flips, channels
        self.image_size, self.mean, self.variance, self.augment = tuple(image_size), mean, variance, augment

    def train_data(self, hp, x, y=None):
        """x: an unbatched dataset of (image, label) pairs; y: its labels in order (for oversampling)."""
        if self.oversample and y is not None:  # here, so only training images are repeated
            x = oversample_images(x, y, self.seed)
        batch = even_batch(self.global_batch(hp), int(x.cardinality()), self.replicas)
        train = x.shuffle(SHUFFLE_BUFFER, seed=self.seed, reshuffle_each_iteration=True).batch(batch)
        return train.prefetch(tf.data.AUTOTUNE)

    def validation_data(self, validation_data):
        batch = even_batch(64, int(validation_data.cardinality()), self.replicas)
        return validation_data.batch(batch).prefetch(tf.data.AUTOTUNE)

    def network(self, hp: kt.HyperParameters) -> keras.Model:
        space = self.space
        blocks = choose(hp, space, "conv_blocks")
        filters = choose(hp, space, "filters")
        kernel = choose(hp, space, "kernel_size")
        batch_norm = choose(hp, space, "batch_norm")
        pooling = choose(hp, space, "pooling")
        dropout = choose(hp, space, "dropout")
        head = choose(hp, space, "global_pooling")
        dense = choose(hp, space, "dense_units")

        inputs = keras.Input(shape=(*self.image_size, self.channels), name="image")
        if self.backbone:
            return self._build_on_backbone(hp, inputs, dropout, dense)
        x = inputs
        for layer in augmentation(self.augment, self.seed, self.flips):  # on raw 0..255 pixels, the range the layers clip to
            x = layer(x)
        x = keras.layers.Normalization(mean=self.mean, variance=self.variance, name="normalize")(x)
        momentum = self.batch_norm_momentum(hp)
        for i, (out, _, pooled) in enumerate(conv_blocks(blocks, filters, self.image_size)):
            # grayscale: the first convolution is the RGB network's, on one channel (GrayConv2D)
            conv = GrayConv2D if i == 0 and self.channels == 1 else keras.layers.Conv2D
            x = conv(out, kernel, padding="same", use_bias=not batch_norm, name=f"conv_{i}")(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(momentum=momentum, name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation("relu", name=f"relu_{i}")(x)
            if pooled:
                pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
                x = pool(pool_size=2, name=f"pool_{i}")(x)
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x) if head == "avg" else \
            keras.layers.Flatten(name="flatten")(x)
        return self._finish(hp, inputs, x, dropout, dense)

    def cost(self, values: dict) -> float:
        """The convolutions' multiply-adds per image (a backbone: 0, all alike): the portfolio's 64-128-256 CNN ~30 M,
        its 32-64-128 one ~8 M and 16-32 5×5 one ~3.5 M at 28×28, whose trials on mnist_5k took 177, 91 and 61 s."""
        if self.backbone:
            return 0.0
        blocks, filters, kernel = (values[name] for name in ("conv_blocks", "filters", "kernel_size"))
        total, channels = 0.0, self.channels
        for out, (height, width), _ in conv_blocks(blocks, filters, self.image_size):
            total += height * width * kernel * kernel * channels * out
            channels = out
        return total

    def _finish(self, hp, inputs, x, dropout: float, dense: int) -> keras.Model:
        """The searched head on pooled features: dropout, an optional dense layer, the output layer."""
        if dropout:
            x = keras.layers.Dropout(dropout, seed=self.seed, name="dropout")(x)
        if dense:
            x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
        outputs, loss, metrics = self.head(x)
        return self.compile(keras.Model(inputs, outputs, name="network"), hp, loss, metrics)


    def _build_on_backbone(self, hp, inputs, dropout: float, dense: int) -> keras.Model:
        """Augmentation, then the backbone (frozen when it comes with weights), then the searched head."""
        x = inputs
        for layer in augmentation(self.augment, self.seed, self.flips):
            x = layer(x)
        base = backbone_model(self.backbone, self.image_size, self.weights)
        base.trainable = self.weights is None
        x = base(x, training=False) if self.weights else base(x)
        return self._finish(hp, inputs, x, dropout, dense)


def inference_model(networks: list[keras.Model], image_size: tuple[int, int], channels: int = 3) -> keras.Model:
    """Image tensors (0..255) -> class probabilities, averaged over the networks."""
    inputs = keras.Input(shape=(*image_size, channels), name="image")
    outputs = [network(inputs) for network in networks]
    outputs = keras.layers.Average(name="average")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, outputs, name="autotune_image_model")


def predict_files(model: keras.Model, paths: list[str], image_size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """The image model's outputs for image files, decoded and resized as in training."""
    ds = image_dataset(paths, None, image_size, None, channels).batch(64).prefetch(tf.data.AUTOTUNE)
    return np.asarray(model.predict(ds, verbose=0))


def small_pixels(ds, side: int) -> np.ndarray:
    """The images of a dataset (of images, or of (image, label) pairs) shrunk to side×side, as rows of
    side·side·channels floats in 0..255: the input of the image runs' non-neural baseline."""
    rows = []
    for batch in ds.batch(256):
        images = batch[0] if isinstance(batch, tuple) else batch
        rows.append(tf.image.resize(images, (side, side), antialias=True).numpy().reshape(len(images), -1))
    if rows:
        return np.concatenate(rows)
    spec = ds.element_spec[0] if isinstance(ds.element_spec, tuple) else ds.element_spec
    return np.zeros((0, side * side * spec.shape[-1]), np.float32)


def export_saved_model(model: keras.Model, labels: list[str], image_size: tuple[int, int], path: Path,
                       channels: int = 3) -> None:
    """A serving signature over a 1-D string tensor of encoded images (JPEG/PNG/BMP/GIF bytes), decoded to the model's
    channels (a colour image sent to a grayscale model: its luminance)."""
    vocabulary = tf.constant(labels)

    def serve(image):
        batch = tf.map_fn(lambda data: decode(data, image_size, channels), image,
                          fn_output_signature=tf.TensorSpec((*image_size, channels), tf.float32))
        probabilities = model(batch, training=False)
        return {"probabilities": probabilities, "label": tf.gather(vocabulary, tf.argmax(probabilities, axis=1))}

    write_saved_model(model, path, serve, [tf.TensorSpec((None,), tf.string, name="image")], vocabulary)
