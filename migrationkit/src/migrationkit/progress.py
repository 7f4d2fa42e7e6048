"""One progress line for long work: loading millions of rows, batched backfills.

``label [#########.....]  62%  6,200,000/~10,000,000 rows  48,000 rows/s  ETA 1:19``

On a terminal the line is redrawn in place at most four times a second. In a
log (CI, a file) a fresh line is written every ``log_every`` seconds instead, so
long work shows that it is alive without flooding the log. Work that ends within
the first interval shows only its closing line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 20
_TERMINAL_EVERY = 0.25


class Progress:
    """Counts ``done`` towards ``total`` (``exact=False``: an estimate, shown ``~``)."""

    def __init__(
        self,
        *,
        label: str,
        total: int,
        exact: bool = True,
        unit: str = "rows",
        stream: TextIO | None = None,
        log_every: float = 10.0,
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.exact = exact
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.note = ""
        """Shown at the end of the line (a backfill's throttling, say)."""
        self.started = time.monotonic()
        self._live = self.stream.isatty()
        self._every = _TERMINAL_EVERY if self._live else log_every
        self._last_shown = self.started

    def advance(self, count: int) -> None:
        self.update(self.done + count)

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self._last_shown >= self._every:
            self._last_shown = now
            self._write(self.line(), final=False)

    def elapsed(self) -> str:
        return _duration(time.monotonic() - self.started)

    def finish(self, summary: str | None = None) -> None:
        """The closing line: ``summary``, or the count and the time it took."""
        text = summary or f"{self.label}: {self.done:,} {self.unit} in {self.elapsed()}"
        self._write(text, final=True)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        text = f"{self.label} "
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = round(fraction * _WIDTH)
            approx = "" if self.exact else "~"
            text += (
                f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%}  "
                f"{self.done:,}/{approx}{self.total:,} {self.unit}"
            )
        else:
            text += f"{self.done:,} {self.unit}"
        text += f"  {rate:,.0f} {self.unit}/s"
        if self.total > self.done and rate > 0:
            text += f"  ETA {_duration((self.total - self.done) / rate)}"
        if self.note:
            text += f"  {self.note}"
        return text

    def _write(self, text: str, *, final: bool) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
