"""Run the fault figures: ``uv run python -m benchmarks.faults --help``."""

import sys

from benchmarks.faults.cli import main

sys.exit(main())
