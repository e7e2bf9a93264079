"""One progress type for long work, and one way to report a stage of a longer job.

Long functions take ``progress(done, total, stage)``: called after each unit of work with the units done so far,
the units in all, and what is being done. The CLI turns it into a tqdm bar, the app into a Streamlit progress bar;
the library never prints.

A job made of stages hands each stage a :func:`stage` of its own callback, so the stage counts in its own units
and the caller's bar still moves once from 0 to its end. Every command line draws its bar with
:func:`terminal_bar`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, int, str], None]
"""``progress(done, total, stage)``: called after each unit of work."""

RESOLUTION = 1000
"""A stage reports in thousandths of its caller's units, so a bar moves smoothly through a long stage."""


def stage(
    progress: Progress | None, start: float, width: float, total: float, prefix: str = ""
) -> Progress | None:
    """The callback of one stage of a job measured in `total` units, the stage covering [start, start + width).

    The stage's own call ``(done, count, what)`` is reported to `progress` as ``start + width * done / count`` of
    `total` units (in thousandths, :data:`RESOLUTION`), described as ``prefix + what``; a stage with no work
    (count 0) counts as done. None when `progress` is None, so a stage costs nothing without a bar.
    """
    if progress is None:
        return None

    def update(done: int, count: int, what: str) -> None:
        fraction = min(done / count, 1.0) if count else 1.0
        progress(round(RESOLUTION * (start + width * fraction)), round(RESOLUTION * total), prefix + what)

    return update


@contextmanager
def terminal_bar(description: str) -> Iterator[Progress]:
    """A progress callback drawing a tqdm bar on stderr while the block runs, when stderr is a terminal (a log or
    a pipe gets no bar lines); the bar is removed at its end, also on an error. Totals may change between calls."""
    from tqdm import tqdm

    bar = tqdm(
        total=1,
        desc=description,
        dynamic_ncols=True,
        leave=False,
        file=sys.stderr,
        disable=None,  # no bar unless stderr is a terminal
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
    )

    def update(done: int, total: int, what: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix_str(what[:60], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
