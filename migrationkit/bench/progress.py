"""A one-line progress bar on stderr, so loading millions of rows is not silent.

On a terminal the line is redrawn in place; in a log (not a terminal) only the
finished line is written, so CI output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


class ProgressBar:
    """``label [#####.....]  45%  90,000/200,000 rows  3.1 s``."""

    def __init__(
        self,
        *,
        label: str,
        total: int,
        unit: str = "rows",
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._live = self.stream.isatty()

    def advance(self, count: int) -> None:
        self.done = min(self.total, self.done + count)
        if self._live:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def finish(self) -> None:
        self.done = self.total
        prefix = "\r" if self._live else ""
        self.stream.write(prefix + self._line() + "\n")
        self.stream.flush()

    def _line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = round(fraction * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        elapsed = time.monotonic() - self.started
        return (
            f"{self.label} [{bar}] {fraction:4.0%}  "
            f"{self.done:,}/{self.total:,} {self.unit}  {elapsed:.1f} s"
        )
