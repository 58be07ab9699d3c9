"""Progress reporting: a rich progress bar on a terminal, nothing otherwise (Airflow, pipes, ``--no-progress``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class ProgressBar(Protocol):
    """What the generator tells a progress display."""

    def advance(self, amount: float = 1) -> None:
        """Record ``amount`` more units of work done."""

    def update(self, completed: float) -> None:
        """Set the units of work done."""


class NullProgress:
    """A progress display that shows nothing."""

    def advance(self, amount: float = 1) -> None:
        """Ignore progress."""

    def update(self, completed: float) -> None:
        """Ignore progress."""


class _RichProgress:
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task_id, amount)

    def update(self, completed: float) -> None:
        self._progress.update(self._task_id, completed=completed)


@contextmanager
def progress_bar(enabled: bool, description: str, total: float | None, unit: str = "") -> Iterator[ProgressBar]:
    """
    A progress bar on standard error while the block runs, when ``enabled`` and standard error is a terminal.

    :param enabled: False for ``--no-progress``.
    :param description: Label of the bar.
    :param total: Units of work in total (``None`` when unknown).
    :param unit: Name of the unit, shown after the counts.
    """
    if not enabled or not sys.stderr.isatty():
        yield NullProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task_id = progress.add_task(description, total=total)
        yield _RichProgress(progress, task_id)
