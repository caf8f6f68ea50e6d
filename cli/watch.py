"""Watching a long workflow from the terminal: one progress bar, fed by polling.

Backtests and trainings both run for minutes to hours; the CLI polls the workflow's status
and its progress query every half second instead of holding a long poll open, so Ctrl-C
leaves nothing behind that would hold the process. A poll that fails (no worker at that
instant) shows nothing new: the workflow's result says what happened in the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from cli.output import err_console

R = TypeVar("R")
POLL_S = 0.5


@dataclass(frozen=True)
class Step:
    """What one poll shows: the phase, how far it is, and a note (the best so far, a score)."""

    phase: str
    done: int
    total: int | None
    note: str = ""
    eta_s: float | None = None


async def watch(
    handle: WorkflowHandle[Any, R], poll: Callable[[], Awaitable[Step | None]], quiet: bool
) -> R:
    """The workflow's result, with its progress drawn on stderr until then (unless quiet)."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        console=err_console,
        transient=True,
        disable=quiet,
    )
    with bar:
        task = bar.add_task("planning", total=None, note="", eta="")
        while (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            try:
                step = await poll()
            except Exception:  # no worker at this instant: the result will tell
                step = None
            if step is not None:
                bar.update(
                    task,
                    description=step.phase,
                    total=step.total or None,
                    completed=step.done,
                    note=step.note,
                    eta="" if step.eta_s is None else f"eta {step.eta_s:.0f}s",
                )
            await asyncio.sleep(POLL_S)
    return await handle.result()
