"""Run the benchmark: ``uv run python -m benchmarks.zero_downtime --help``."""

import sys

from benchmarks.zero_downtime.cli import main

sys.exit(main())
