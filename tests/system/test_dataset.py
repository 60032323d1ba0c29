"""Loading tables where another process is involved: FIFOs, and a fresh interpreter that proves the
pandas stages import no TensorFlow. The rest of loading is in tests/unit/test_dataset.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from unit.test_dataset import DATA, write

# --- the pure stages stay free of TensorFlow -------------------------------------------------


def test_pure_pandas_stages_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "import autotune.data.load, autotune.data.profile, autotune.data.split, autotune.data.clean, autotune.errors\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=DATA.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


# --- pipes and FIFOs: read once, never hang ----------------------------------------------------

_PIPE_SCRIPT = """
import hashlib, json, os, sys, threading
import autotune.data.load as dataset
from autotune.errors import InputError
fifo, content, wait = sys.argv[1], open(sys.argv[2], "rb").read(), float(sys.argv[3])
dataset.PIPE_WAIT = wait
os.mkfifo(fifo)
if content:
    def write():
        try:
            with open(fifo, "wb") as out:
                out.write(content)
        except BrokenPipeError:
            pass
    threading.Thread(target=write, daemon=True).start()
try:
    loaded = dataset.read_table(fifo)
except InputError as exc:
    print(json.dumps({"error": exc.message}))
else:
    print(json.dumps({"rows": len(loaded.frame), "columns": list(loaded.frame.columns),
                      "fingerprint": loaded.fingerprint, "expected": "sha256:" + hashlib.sha256(content).hexdigest(),
                      "path": str(loaded.path)}))
"""


def _read_fifo(tmp_path: Path, content: bytes, wait: float = 30) -> dict:
    """read_table on a FIFO fed by a writer thread, in a subprocess that a hang cannot outlast."""
    import json

    source = write(tmp_path, "content.bin", content)
    done = subprocess.run([sys.executable, "-c", _PIPE_SCRIPT, str(tmp_path / "fifo"), str(source), str(wait)],
                          capture_output=True, text=True, timeout=60, cwd=DATA.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_fifo_is_read_once_whole(tmp_path):
    """The FIFO's bytes are read once: sniffed, parsed and fingerprinted from one copy (the old reader
    opened it three times, lost the first 64 KB to the sniff and then waited forever for a writer)."""
    rows = [f"{i},{i * 0.5:.1f},{'abc'[i % 3]}" for i in range(20_000)]
    content = ("n,x,label\n" + "\n".join(rows) + "\n").encode()
    assert len(content) > 3 * 64 * 1024
    result = _read_fifo(tmp_path, content)
    assert result == {"rows": 20_000, "columns": ["n", "x", "label"], "fingerprint": result["expected"],
                      "expected": result["expected"], "path": str(tmp_path / "fifo")}


def test_a_fifo_nobody_writes_is_refused_not_waited_on_forever(tmp_path):
    result = _read_fifo(tmp_path, b"", wait=1)
    assert result == {"error": f"{tmp_path / 'fifo'}: nothing arrived on this pipe within 1 s; start the program "
                               "that writes it first, or save the data to a file and pass that"}
