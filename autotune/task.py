"""What a task (classification, regression) decides, in one class per task, so no stage branches on it.

Each stage asks the run's Task for the part that depends on what is predicted: the network's head and
loss, the metrics, how the target is read and encoded, whether splits are stratified, what the serving
signature returns, the prediction table and the trivial baseline. A new task (e.g. multilabel) is a
subclass plus an entry in TASKS. The task's name is what report.json, metadata.json and --task say.

Plain Python at import: NumPy, pandas, TensorFlow, Keras and scikit-learn are imported inside the methods that use them,
so the CLI's start-up (and `autotune --help`) stays light.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from autotune.config import METRICS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"


class Task:
    """The base: one instance per task, shared (stateless); subclasses fill in every method."""

    name: ClassVar[str]
    has_classes: ClassVar[bool]  # class labels: class weights, oversampling, per-class tables, label checks
    standardised_target: ClassVar[bool]  # the network trains on a standardised target (logs, export undo it)
    stratified: ClassVar[bool]  # the hold-out split, the search's folds and --cv keep the classes' shares
    search_metric: ClassVar[str]  # what the search optimises without --metric: the smooth loss
    loss_monitor: ClassVar[str]  # early stopping and ties follow the data loss, whatever the objective
    output_name: ClassVar[str]  # the serving signature's output that holds the model's numbers
    outputs: ClassVar[dict]  # metadata.json's `outputs`: the serving signature's outputs, in words
    figure_format: ClassVar[str]  # how a verdict writes this task's metric values (format type)
    metric_table: ClassVar[tuple[tuple[str, str], ...]]  # (metric, its name in report.html's table)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @property
    def metrics(self) -> list[str]:
        """This task's metric names, in METRICS order."""
        return [m for m, (task, _) in METRICS.items() if task == self.name]

    def default_metric(self, imbalanced: bool = False) -> str:
        """The headline metric when --metric is not given."""
        raise NotImplementedError

    def labels(self, *targets: pd.Series) -> list[str] | None:
        """The class names the model outputs, from the training targets; None when it outputs a value."""
        raise NotImplementedError

    def n_outputs(self, labels: list[str] | None) -> int:
        raise NotImplementedError

    def read_target(self, y: pd.Series) -> pd.Series:
        """The target as the task reads it: label strings, or floats; missing stays missing."""
        raise NotImplementedError

    def learnable_target(self, y: pd.Series) -> pd.Series:
        """read_target, with the values the model cannot learn from (±inf, beyond float32) made missing."""
        return self.read_target(y)

    def describe_target(self, y: pd.Series, target: str) -> tuple[dict | None, dict | None, list[str]]:
        """Profile's class counts or value summary of the target column, and its warnings."""
        raise NotImplementedError

    def balancing(self, y: np.ndarray, labels: list[str] | None, balance: str = "auto") -> tuple[dict | None, bool]:
        """--balance for the encoded training targets `y`: the class weights (None: unweighted) and whether
        to oversample the smaller classes."""
        return None, False

    def stratify_by(self, y):
        """What train_test_split stratifies on: the labels, or None."""
        return y if self.stratified else None

    def kfold(self, folds: int, seed: int):
        """The scikit-learn splitter for `folds` shuffled folds (stratified for classes)."""
        raise NotImplementedError

    def encode_target(self, labels: list[str] | None, targets: tuple, fit_on=None) -> tuple[list[np.ndarray], object]:
        """The targets as the network trains on them: class indices, or values standardised with the scale of
        `fit_on` (default: the first target); returns them and the TargetScale (None for classes)."""
        raise NotImplementedError

    def head(self, x, n_outputs: int, kernel_regularizer=None) -> tuple:
        """The network's output layer (float32, whatever the policy), its loss and its Keras metrics. A
        `kernel_regularizer` penalises the output kernel (a network without hidden layers: the searched L1/L2)."""
        raise NotImplementedError

    def label_vocabulary(self, labels: list[str] | None):
        """The class names as a string tensor for the serving signature, or None."""
        return None

    def serving_outputs(self, raw, vocabulary) -> dict:
        """The serving signature's outputs from the model's raw output (traced inside a tf.function)."""
        raise NotImplementedError

    def prediction_frame(self, outputs: np.ndarray, labels: list[str] | None) -> pd.DataFrame:
        """`autotune predict`'s table: the prediction (and each class's probability)."""
        raise NotImplementedError

    def evaluate(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        """The test metrics (evaluate/metrics.py computes them)."""
        raise NotImplementedError

    def curves(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        """The data of report.html's plots."""
        raise NotImplementedError

    def truth(self, y_true, labels: list[str] | None) -> np.ndarray:
        """The test targets as the paired tests score them: class indices (unseen labels past the known ones),
        or values."""
        raise NotImplementedError

    def trivial(self, y_train, n: int, labels: list[str] | None) -> tuple[np.ndarray, str]:
        """The trivial baseline's outputs for n rows and its description: the floor any model must clear."""
        raise NotImplementedError

    def boosting_estimator(self, seed: int):
        """scikit-learn's HistGradientBoosting for this task, taking categories from the frame's dtypes."""
        raise NotImplementedError

    def estimator_outputs(self, model, x, labels: list[str] | None) -> np.ndarray:
        """A fitted scikit-learn estimator's outputs, as the network's: probabilities in `labels` order, or values."""
        raise NotImplementedError

    def check_labels(self, labels) -> str | None:
        """What is wrong with metadata.json's `labels` for this task, or None."""
        raise NotImplementedError


class Classification(Task):
    name = CLASSIFICATION
    has_classes = True
    standardised_target = False
    stratified = True
    search_metric = "log_loss"
    loss_monitor = "val_log_loss"
    output_name = "probabilities"
    outputs = {"probabilities": "float32 [rows, classes], in the order of `labels`", "label": "string [rows]"}
    figure_format = "f"
    metric_table = (("accuracy", "accuracy"), ("f1_macro", "macro-F1"), ("log_loss", "log loss"),
                    ("roc_auc", "ROC AUC"))

    def default_metric(self, imbalanced: bool = False) -> str:
        return "f1_macro" if imbalanced else "accuracy"

    def labels(self, *targets: pd.Series) -> list[str]:
        return sorted(set().union(*(set(y) for y in targets)))

    def n_outputs(self, labels: list[str] | None) -> int:
        return len(labels)

    def read_target(self, y: pd.Series) -> pd.Series:
        from autotune.data.profile import label_strings

        return label_strings(y)

    def describe_target(self, y: pd.Series, target: str) -> tuple[dict, None, list[str]]:
        from autotune.data.profile import class_summary

        return class_summary(y, target)

    def balancing(self, y: np.ndarray, labels: list[str] | None, balance: str = "auto") -> tuple[dict | None, bool]:
        from autotune.modality import class_weights

        return class_weights(y, len(labels), balance), balance == "oversample"

    def kfold(self, folds: int, seed: int):
        from sklearn.model_selection import StratifiedKFold

        return StratifiedKFold(folds, shuffle=True, random_state=seed)

    def encode_target(self, labels: list[str] | None, targets: tuple, fit_on=None) -> tuple[list[np.ndarray], None]:
        import numpy as np
        import pandas as pd

        from autotune.data.profile import map_distinct

        index = {label: i for i, label in enumerate(labels)}
        # a lookup per distinct label, not per row (1,000,000 rows: a Python object per row at the run's memory peak)
        return [np.asarray(map_distinct(pd.Series(y), index.__getitem__, None), np.int32).reshape(-1)
                for y in targets], None

    def head(self, x, n_outputs: int, kernel_regularizer=None) -> tuple:
        import keras

        outputs = keras.layers.Dense(n_outputs, activation="softmax", kernel_regularizer=kernel_regularizer,
                                     dtype="float32", name="probabilities")(x)
        # The objective is the data loss alone: val_loss would also count the L1/L2 penalty and
        # so favour unregularised trials.
        return outputs, "sparse_categorical_crossentropy", [
            "accuracy", keras.metrics.SparseCategoricalCrossentropy(name="log_loss")]

    def label_vocabulary(self, labels: list[str] | None):
        import tensorflow as tf

        return tf.constant(labels)

    def serving_outputs(self, raw, vocabulary) -> dict:
        import tensorflow as tf

        return {"probabilities": raw, "label": tf.gather(vocabulary, tf.argmax(raw, axis=1))}

    def prediction_frame(self, outputs: np.ndarray, labels: list[str] | None) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        table = pd.DataFrame({"prediction": np.asarray(labels, dtype=object)[outputs.argmax(axis=1)]})
        for i, label in enumerate(labels):
            table[f"p_{label}"] = outputs[:, i]
        return table

    def evaluate(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        from autotune.evaluate.metrics import classification_metrics

        return classification_metrics(list(y_true), outputs, labels or [])

    def curves(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        from autotune.evaluate.metrics import classification_curves

        return classification_curves(y_true, outputs, labels)

    def truth(self, y_true, labels: list[str] | None) -> np.ndarray:
        from autotune.evaluate.baseline import truth_indices

        return truth_indices(y_true, labels)

    def trivial(self, y_train, n: int, labels: list[str] | None) -> tuple[np.ndarray, str]:
        import numpy as np
        import pandas as pd

        counts = pd.Series(y_train).value_counts().reindex(labels, fill_value=0).to_numpy(np.float64)
        return np.tile(counts / counts.sum(), (n, 1)), f"majority class '{labels[int(counts.argmax())]}'"

    def boosting_estimator(self, seed: int):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)

    def estimator_outputs(self, model, x, labels: list[str] | None) -> np.ndarray:
        probabilities = model.predict_proba(x)
        return probabilities[:, [list(model.classes_).index(label) for label in labels]]

    def check_labels(self, labels) -> str | None:
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            return "must be the list of class names"
        if len(set(labels)) < 2 or len(set(labels)) != len(labels):
            return "must list at least 2 distinct class names"
        return None


class Regression(Task):
    name = REGRESSION
    has_classes = False
    standardised_target = True
    stratified = False
    search_metric = "rmse"
    loss_monitor = "val_rmse"
    output_name = "value"
    outputs = {"value": "float32 [rows]"}
    figure_format = "g"
    metric_table = (("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²"))

    def default_metric(self, imbalanced: bool = False) -> str:
        return "rmse"

    def labels(self, *targets: pd.Series) -> None:
        return None

    def n_outputs(self, labels: list[str] | None) -> int:
        return 1

    def read_target(self, y: pd.Series) -> pd.Series:
        from autotune.data.profile import coerce_numeric

        return coerce_numeric(y)[0]

    def learnable_target(self, y: pd.Series) -> pd.Series:
        from autotune.data.profile import FLOAT32_MAX

        # ±inf, and values beyond float32 (what the model computes in), cannot be learned: a missing target.
        values = self.read_target(y)
        return values.where(values.abs() <= FLOAT32_MAX)

    def describe_target(self, y: pd.Series, target: str) -> tuple[None, dict, list[str]]:
        from autotune.data.profile import value_summary

        return value_summary(y, target)

    def kfold(self, folds: int, seed: int):
        from sklearn.model_selection import KFold

        return KFold(folds, shuffle=True, random_state=seed)

    def encode_target(self, labels: list[str] | None, targets: tuple, fit_on=None) -> tuple[list[np.ndarray], object]:
        import numpy as np

        from autotune.train import TargetScale

        scale = TargetScale.fit(np.asarray(targets[0] if fit_on is None else fit_on, np.float64))
        return [scale.apply(np.asarray(y, np.float64)) for y in targets], scale

    def head(self, x, n_outputs: int, kernel_regularizer=None) -> tuple:
        import keras

        outputs = keras.layers.Dense(1, kernel_regularizer=kernel_regularizer, dtype="float32", name="value")(x)
        return outputs, "mean_squared_error", [keras.metrics.RootMeanSquaredError(name="rmse")]

    def serving_outputs(self, raw, vocabulary) -> dict:
        import tensorflow as tf

        return {"value": tf.reshape(raw, (-1,))}

    def prediction_frame(self, outputs: np.ndarray, labels: list[str] | None) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"prediction": outputs.reshape(-1)})

    def evaluate(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        from autotune.evaluate.metrics import regression_metrics

        return regression_metrics(y_true, outputs)

    def curves(self, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
        from autotune.evaluate.metrics import regression_curves

        return regression_curves(y_true, outputs)

    def truth(self, y_true, labels: list[str] | None) -> np.ndarray:
        import numpy as np

        return np.asarray(y_true)

    def trivial(self, y_train, n: int, labels: list[str] | None) -> tuple[np.ndarray, str]:
        import numpy as np

        mean = float(np.mean(np.asarray(y_train, np.float64)))
        return np.full(n, mean), f"training mean {mean:.4g}"

    def boosting_estimator(self, seed: int):
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)

    def estimator_outputs(self, model, x, labels: list[str] | None) -> np.ndarray:
        return model.predict(x)

    def check_labels(self, labels) -> str | None:
        return None if labels is None else "must be null for a regression bundle"


TASKS: dict[str, Task] = {task.name: task for task in (Classification(), Regression())}


def task_of(name: str) -> Task:
    """The Task called `name` (report.json's and metadata.json's "task", --task)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; use {' or '.join(TASKS)}") from None
