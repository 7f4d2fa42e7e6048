"""The peer tier: pytest-alembic's examples, proven by ``migrationkit prove``.

Each folder of tests/examples/peers (see its README: the commit, the licence,
what was wired) runs through the command in a subprocess, as an adopter would
run it, and its outcome is compared with ``PEERS``: pass or fail, and the codes
of the checks that failed. Where prove's verdict differs from pytest-alembic's,
the entry says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from migrationkit.testing.server import TestServer
from tests.helpers import run_module

PEERS_DIR = Path(__file__).resolve().parent / "examples" / "peers"


@dataclass(frozen=True, kw_only=True)
class Peer:
    passes: bool
    failed: frozenset[str] = frozenset()
    """Codes of the checks expected to fail."""
    args: tuple[str, ...] = ()
    why: str = "as pytest-alembic"


PEERS: dict[str, Peer] = {
    "empty_history": Peer(passes=True),
    "generate_revision": Peer(
        passes=True,
        args=("--no-models",),
        why=(
            "its setup.cfg excludes model_definitions_match_ddl; --no-models is the "
            "same choice (with models, prove reports table foo missing, truly)"
        ),
    ),
    "version_table_schema": Peer(
        passes=True,
        why="version_table_schema honoured; the schema comes from the setup key",
    ),
    "skip_revision": Peer(passes=True, why="skip_revisions declared in pyproject"),
    "consistency_doesnt_roundtrip": Peer(
        passes=False, failed=frozenset({"round-trip"})
    ),
    "failing_downgrade": Peer(
        passes=False,
        failed=frozenset({"round-trip", "offline", "models"}),
        why=(
            "as pytest-alembic (the downgrade raises); the same raise stops its "
            "--sql rendering, and foo_id's server default 9 is missing from the "
            "models"
        ),
    ),
    "minimum_downgrade_revision": Peer(
        passes=False,
        failed=frozenset({"models"}),
        why=(
            "the declared minimum is honoured (no round trip at or below it); the "
            "models check finds real drift pytest-alembic's default comparison "
            "does not (server defaults the models lack)"
        ),
    ),
    "unimplemented_downgrade_warning": Peer(
        passes=False,
        failed=frozenset({"models"}),
        why=(
            "NotImplementedError is an irreversible revision (a skip, as asked); "
            "fails only on real drift: column foo_id has server default 9 in the "
            "database, none in the models (pytest-alembic does not compare "
            "server defaults by default)"
        ),
    ),
    "default_env_script": Peer(
        passes=False,
        failed=frozenset({"upgrade", "offline"}),
        why=(
            "undecidable here: revision bbbb executes a plain string, which "
            "SQLAlchemy 2 refuses (pytest-alembic's CI runs older SQLAlchemy), "
            "and reads rows without checking offline mode"
        ),
    ),
    "experimental_all_models_register_failure": Peer(
        passes=False,
        failed=frozenset({"models", "offline"}),
        why=(
            "as pytest-alembic: models/bar.py is never imported (the models check "
            "imports every module of the models' package and names table bar); "
            "revision bbbb also reads rows in --sql mode"
        ),
    ),
}


def test_every_peer_example_has_an_expected_outcome() -> None:
    on_disk = {p.name for p in PEERS_DIR.iterdir() if p.is_dir()}
    assert on_disk == set(PEERS)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_example(name: str, server: TestServer, tmp_path: Path) -> None:
    peer = PEERS[name]
    result = run_module(
        "migrationkit",
        "prove",
        *peer.args,
        cwd=PEERS_DIR / name,
        database_url=server.admin.url.render_as_string(hide_password=False),
        pgdata=tmp_path / "unused-pgdata",
        timeout=180,
    )
    out = result.stdout + result.stderr
    assert result.returncode == (0 if peer.passes else 1), f"{peer.why}\n{out}"
    failed = {
        line.split("]")[0].removeprefix("FAILED [")
        for line in result.stdout.splitlines()
        if line.startswith("FAILED [")
    }
    assert failed == set(peer.failed), f"{peer.why}\n{out}"
