# The application image: migrate on start, then serve the users API.
#
#   docker build -t migration-learning .
#   docker run --rm -p 8000:8000 -e DATABASE_URL -e DATABASE_URL_DIRECT migration-learning
#
# The image installs no dev dependencies, so it has no embedded PostgreSQL: without
# DATABASE_URL it stops with a clear error instead of migrating a private database.
# On Neon, DATABASE_URL is the pooled string (the service uses it) and
# DATABASE_URL_DIRECT the direct one (the migration uses it). Any number of
# containers may start at once: the migration's advisory lock lets one migrate
# while the others wait, and nothing is applied twice.
#
# Reproducible installs: when the build context holds requirements.lock (an
# export with hashes: uv export --no-dev --no-emit-workspace -o requirements.lock)
# the dependency layer installs exactly that, checking every hash; without it,
# uv resolves the versions pyproject.toml allows.

ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- build stage
FROM ${PYTHON_IMAGE} AS build

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN pip install --no-cache-dir "uv>=0.9,<0.14"

WORKDIR /src

# Dependencies first, in their own layer: a code change does not reinstall them.
# Only the files that decide them are copied (requirements.lock if present).
COPY pyproject.toml requirements.loc[k] ./
COPY migrationkit/pyproject.toml migrationkit/README.md migrationkit/
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ -f requirements.lock ]; then \
        uv venv /opt/venv \
        && uv pip install --python /opt/venv/bin/python --require-hashes \
            -r requirements.lock; \
    else \
        uv sync --no-dev --no-install-workspace; \
    fi

# migrationkit, the workspace member, installed as a package (not a folder copy).
COPY migrationkit/ migrationkit/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --no-deps ./migrationkit

# -------------------------------------------------------------- runtime stage
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH"

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini main.py verify_migration.py ./
COPY alembic/ alembic/
COPY models/ models/
COPY service/ service/

USER app
EXPOSE 8000

# The guide's command; exec hands PID 1 to the service, so it gets SIGTERM.
CMD ["sh", "-c", "alembic upgrade head && exec python main.py --host 0.0.0.0"]
