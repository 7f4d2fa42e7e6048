"""The backfill speed benchmark: ``python -m benchmarks.backfill_speed --help``."""

import sys

from benchmarks.backfill_speed.cli import main

sys.exit(main())
