"""The unit layer: tests that import nothing from TensorFlow, Keras or keras-tuner, so the whole layer runs in
seconds (`pytest tests/unit`). Each test is checked here; test_no_tensorflow.py asserts it for the layer."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HEAVY = ("tensorflow", "keras", "keras_tuner", "tf_keras")
UNIT = Path(__file__).resolve().parent
LAST = "test_no_tensorflow.py"


def heavy_modules() -> list[str]:
    """The TensorFlow/Keras modules this process has imported (first few, enough for a message)."""
    return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)[:5]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The layer's own check runs after every other test, so it sees what they all imported."""
    items.sort(key=lambda item: item.path.name == LAST and item.path.parent == UNIT)


@pytest.fixture(autouse=True)
def _imports_no_tensorflow():
    """A unit test (or the code it calls) that imports TensorFlow fails here, by name. When another layer
    already imported it in this process, nothing can be seen: test_no_tensorflow then runs the layer alone."""
    before = heavy_modules()
    yield
    if not before:
        assert not heavy_modules(), (f"this unit test imported {', '.join(heavy_modules())}: "
                                     "a test that needs TensorFlow belongs in tests/integration")
