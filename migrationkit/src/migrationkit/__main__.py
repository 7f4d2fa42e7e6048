"""Run the toolkit's command line: ``python -m migrationkit --help``."""

import sys

from migrationkit.cli import main

sys.exit(main())
