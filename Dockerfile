# The application image: migrate on start, then run the application.
#
#   docker build -t migration-learning .
#   docker run --rm -e DATABASE_URL migration-learning   # passes the variable from your shell
#
# The image installs no dev dependencies, so it has no embedded PostgreSQL: without
# DATABASE_URL it stops with a clear error instead of migrating a private database.
# Any number of containers may start at once: the migration advisory lock lets one
# migrate while the others wait, and nothing is applied twice.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    PATH="/opt/venv/bin:$PATH"

RUN pip install --no-cache-dir uv

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN uv sync --no-dev

COPY alembic.ini main.py verify_migration.py ./
COPY alembic/ alembic/
COPY models/ models/
COPY migrationkit/ migrationkit/

RUN useradd --system --no-create-home app
USER app

CMD ["sh", "-c", "alembic upgrade head && python main.py"]
