"""SIGTERM while `autotune predict` writes its output leaves no partial file (a subprocess killed
mid-write). The other output checks are in tests/unit/test_writes.py and tests/integration/test_writes.py."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
from conftest import DATA, ROOT, wait_for

# Path options that name something autotune reads, or whose checks another part of the code owns.



def _big_rows(tmp: Path, copies: int) -> Path:
    """Enough penguins rows that writing their predictions takes a few seconds."""
    frame = pd.read_csv(DATA / "penguins.csv")
    path = tmp / "many.csv"
    pd.concat([frame] * copies, ignore_index=True).to_csv(path, index=False)
    return path


def test_sigterm_while_predict_writes_its_output_leaves_no_partial_file(penguins_run, tmp_path):
    """`kill` from a supervisor in the middle of `predict -o`: the target is absent or complete, never a
    truncated CSV; no temporary file is left beside it; exit 130 and a message that says so."""
    rows = _big_rows(tmp_path, 600)  # 206,400 rows: about two seconds of CSV writing
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "predictions.csv"
    process = subprocess.Popen([sys.executable, "-m", "autotune", "predict", str(penguins_run.output), str(rows),
                                "-o", str(target)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    # the temporary beside the target: the write has begun (not the start-up's writability probe, which
    # is created and removed in the same directory first)
    def temporaries():
        return [p for p in out_dir.iterdir() if p.name.startswith(".predictions.csv.")]

    wait_for(temporaries, 240, process, "the write to begin", interval=0.005)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("warning: ")]  # data warnings first
    assert lines == ["error: interrupted; nothing was written"], stderr
    assert list(out_dir.iterdir()) == []  # no partial target, no temporary

    # Uninterrupted, the same command writes the whole file, through the same temporary.
    done = subprocess.run([sys.executable, "-m", "autotune", "predict", str(penguins_run.output), str(rows),
                           "-o", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(target)) == 206_400 and list(out_dir.iterdir()) == [target]
