"""Run the load benchmark: ``uv run python -m benchmarks.http_load --help``."""

import sys

from benchmarks.http_load.cli import main

sys.exit(main())
