"""Stopping a child process the tests or a benchmark started, without hanging."""

from __future__ import annotations

import subprocess
from typing import Any


def terminate(process: subprocess.Popen[Any], *, grace: float = 15.0) -> int:
    """SIGTERM (the graceful stop), then SIGKILL after ``grace`` seconds.

    Returns the exit status (negative: the signal that ended it).
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
