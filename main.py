"""The application: an HTTP service over the users table (the ``service`` package).

    uv run alembic upgrade head
    uv run python main.py                      # http://127.0.0.1:8000, docs at /docs
    uv run python main.py --host 0.0.0.0 --port 8080   # or PORT=8080

The container runs ``alembic upgrade head`` and then this, as the guide shows.
It uses the same database as Alembic (``DATABASE_URL``, else the embedded
server), waits for a server that is still waking up, and refuses to start on a
schema that is not at the head revision: it says to run ``alembic upgrade head``
and exits with status 1, instead of serving errors.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from migrationkit import report_failures
from service.app import create_app
from service.database import open_database
from service.settings import ServiceSettings, parse_port

ALEMBIC_INI = Path(__file__).resolve().with_name("alembic.ini")


def parse_arguments(
    argv: Sequence[str] | None, settings: ServiceSettings
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Serve the users API (docs at /docs) once the database is at head.",
    )
    parser.add_argument(
        "--host",
        default=settings.host,
        help=f"address to listen on (default: {settings.host}; 0.0.0.0 for all)",
    )
    parser.add_argument(
        "--port",
        type=lambda raw: parse_port(raw, name="--port"),
        default=settings.port,
        help=f"TCP port (default: PORT, else {settings.port})",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a failure"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve, or say in one ``FAILED:`` paragraph why not (``--debug``: traceback)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:  %(message)s")
    # Alembic's context says "Context impl PostgresqlImpl" at each /health check.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)

    def serve() -> int:
        settings = ServiceSettings.from_environ()
        arguments = parse_arguments(argv, settings)
        database = open_database(settings.database, alembic_ini=ALEMBIC_INI)
        uvicorn.run(
            create_app(database),
            host=arguments.host,
            port=arguments.port,
            timeout_graceful_shutdown=10,
        )
        return 0

    return report_failures(serve, debug=debug)


if __name__ == "__main__":
    sys.exit(main())
