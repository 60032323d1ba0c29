"""Start-up and serving speed: `autotune --help`, time to the first trial, and batch prediction of
exported bundles through the SavedModel, the .keras model and `autotune predict` on 100,000 rows.

    python bench/serving.py

Same as `python bench/run.py --full --sections startup,serving --name serving`; writes
bench/results/serving.md and serving.json. All figures come from one run on one machine.
"""
from __future__ import annotations

from run import main

if __name__ == "__main__":
    main(["--full", "--sections", "startup,serving", "--name", "serving"])
