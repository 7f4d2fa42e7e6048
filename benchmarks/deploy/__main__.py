"""Run the deploy benchmark: ``uv run python -m benchmarks.deploy --help``."""

import sys

from benchmarks.deploy.cli import main

sys.exit(main())
