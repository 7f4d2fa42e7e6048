"""The ``migrationkit`` command line: parse, call ``migrationkit.command``, print."""

from migrationkit.cli.main import main

__all__ = ["main"]
