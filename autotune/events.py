"""Progress events from the pipeline. Library code calls these; cli/ui.py decides how they look."""
from __future__ import annotations


class Reporter:
    """Receives progress events; the base class ignores them all (the Python API's default)."""

    def stage(self, name: str) -> None:
        """A stage starts: load, profile, clean, search, final fit, evaluate, export."""

    def note(self, message: str) -> None:
        """Something the user should know that is not a problem."""

    def warning(self, message: str) -> None:
        """Something the user should look at; the run goes on."""

    def profiled(self, profile, cleaning: list[dict]) -> None:
        """The data profile and the cleaning actions learned on the training split."""

    def search_started(self, tuner: str, max_trials: int | None, epochs: int, objective: str) -> None:
        """The search begins; max_trials is None when the tuner decides (Hyperband)."""

    def budget_preview(self, setup_seconds: float, epoch_seconds: float, max_trials: int | None, epochs: int,
                       time_budget: float | None, reserve: float | None = None, measured: bool = False) -> None:
        """A rough estimate before the search starts, from timing a few batches, or (measured) from the first
        trial, when no time budget needs it sooner; `reserve`: the seconds of the time budget kept for the final fit
        and export."""

    def trial_finished(self, trial: str | None, number: int, score: float | None, best: float | None, epochs: int,
                       seconds: float, hyperparameters: dict) -> None:
        """Trial `trial` (keras-tuner's id, as in the leaderboard) has finished, the number-th of the run;
        `best` is the best objective value so far; `epochs` counts from the configuration's start."""

    def finished(self, report: dict, output) -> None:
        """The bundle is in place."""

    def close(self) -> None:
        """The run is over, whether it succeeded or not: release the terminal."""


EVENTS = tuple(name for name in vars(Reporter) if not name.startswith("_"))


class TeeReporter(Reporter):
    """Sends every event to several reporters: the terminal and a --log-file; `warnings` are the first's."""

    def __init__(self, *reporters: Reporter):
        self.reporters = reporters

    @property
    def warnings(self) -> list[str]:
        return getattr(self.reporters[0], "warnings", [])


def _forward(name: str):
    def method(self, *args, **kwargs):
        for reporter in self.reporters:
            getattr(reporter, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _event in EVENTS:
    setattr(TeeReporter, _event, _forward(_event))


class Recorder(TeeReporter):
    """Passes every event on to another reporter and keeps the warnings, for report.json's `warnings`."""

    def __init__(self, inner: Reporter):
        super().__init__(inner)
        self._kept: list[str] = []

    @property
    def warnings(self) -> list[str]:
        return self._kept

    def warning(self, message: str) -> None:
        self._kept.append(message)
        super().warning(message)
