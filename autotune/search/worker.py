"""`python -m autotune.search.worker SETTINGS.json`: one local worker process of `autotune fit --workers N`.

The chief writes the run's settings (and this worker's keras-tuner id and the oracle's address) to a
JSON file and starts this module; it logs plain lines to stderr (the chief sends them to a file) and
exits on its own if the chief process goes away.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from autotune import interrupt
from autotune.config import FitConfig
from autotune.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AutotuneError

PATH_FIELDS = ("data", "output", "weights")


def read_settings(path: Path) -> tuple[FitConfig, float | None, int | None]:
    """The run's config, the chief's start time and pid, from the settings file the chief wrote."""
    settings = json.loads(Path(path).read_text())
    started, parent = settings.pop("started", None), settings.pop("parent_pid", None)
    values = {k: (Path(v) if k in PATH_FIELDS and v is not None else v) for k, v in settings.items()}
    return FitConfig.of(**values), started, parent


def _watch_parent(parent: int) -> None:
    """A worker whose chief has gone has nobody to report to: stop instead of training for nothing."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            print(f"error: the chief (pid {parent}) has gone; this worker stops", file=sys.stderr, flush=True)
            os._exit(3)


def main(argv: list[str]) -> int:
    """`python -m autotune.search.worker SETTINGS.json`: run trials for the chief; the exit code."""
    from autotune.cli import ui

    config, started, parent = read_settings(Path(argv[1]))
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    interrupt.install()
    reporter = ui.ConsoleReporter(ui.make_console(force_terminal=False), verbose=True)
    try:
        from autotune.pipeline import fit

        fit(config, reporter, started=started)
        return 0
    except AutotuneError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: worker interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the log file is where a worker's traceback belongs
        import traceback

        traceback.print_exc()
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main(sys.argv))
