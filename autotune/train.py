"""The final model: the best configuration retrained on train+validation, then joined to the
preprocessing layers into one model from raw columns to predictions."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import keras
import keras_tuner as kt
import numpy as np

from autotune.profile import CLASSIFICATION
from autotune.space import TabularHyperModel, make_dataset


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
    network: keras.Model  # encoded features -> outputs
    model: keras.Model  # raw named columns -> probabilities (classification) or value (regression)
    epochs: int
    seconds: float
    history: dict


def final_fit(hypermodel: TabularHyperModel, hp: kt.HyperParameters, x: np.ndarray, y: np.ndarray,
              epochs: int, seed: int) -> tuple[keras.Model, dict, float]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    network = hypermodel.build(hp)
    data = make_dataset(x, y, hp.get("batch_size"), shuffle=True, seed=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shuffle.*", category=UserWarning)
        history = network.fit(data, epochs=epochs, verbose=0)
    return network, history.history, time.perf_counter() - start


def inference_model(preprocessor: keras.Model, network: keras.Model, task: str,
                    scale: TargetScale | None = None) -> keras.Model:
    """Raw inputs -> preprocessing layers -> trained network (-> de-standardised value)."""
    inputs = {t.name: keras.Input(shape=(1,), dtype=t.dtype, name=t.name) for t in preprocessor.inputs}
    outputs = network(preprocessor(inputs))
    if task != CLASSIFICATION and scale is not None:
        outputs = keras.layers.Rescaling(scale.std, offset=scale.mean, name="value")(outputs)
    return keras.Model(inputs, outputs, name="autotune_model")


def train_final(hypermodel: TabularHyperModel, hp: kt.HyperParameters, preprocessor: keras.Model,
                x: np.ndarray, y: np.ndarray, epochs: int, seed: int, task: str,
                scale: TargetScale | None) -> FinalModel:
    network, history, seconds = final_fit(hypermodel, hp, x, y, epochs, seed)
    return FinalModel(network, inference_model(preprocessor, network, task, scale), epochs, seconds, history)


def predict_raw(model: keras.Model, columns: dict[str, np.ndarray]) -> np.ndarray:
    from autotune.encode import raw_dataset

    return np.asarray(model.predict(raw_dataset(columns), verbose=0))
