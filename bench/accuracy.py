"""Default-budget accuracy on the data/ sets, beside scikit-learn baselines (and AutoKeras when
installed) on the same split: the accuracy section of the harness on its own.

    python bench/accuracy.py            # every set in data/
    python bench/accuracy.py wine       # some of them

Same as `python bench/run.py --full --sections accuracy --name accuracy [--sets …]`; writes
bench/results/accuracy.md and accuracy.json.
"""
from __future__ import annotations

import sys

from run import main

if __name__ == "__main__":
    names = sys.argv[1:]
    main(["--full", "--sections", "accuracy", "--name", "accuracy", *(["--sets", ",".join(names)] if names else [])])
