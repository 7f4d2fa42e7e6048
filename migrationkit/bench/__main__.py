"""Run the benchmark: ``uv run python -m migrationkit.bench --help``."""

import sys

from migrationkit.bench.cli import main

sys.exit(main())
