"""The search for model modules nothing imports runs no script.

``unregistered_models`` imports every module of the packages that define a
model class. A package that only imports a model (a script, a benchmark) is not
one of them, and a ``__main__`` module is never imported: either would run a
command in the middle of a proof (it once ran ``benchmarks/*/__main__.py``,
whose ``sys.exit`` ended the test run).
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrationkit.prove.models import unregistered_models


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def packages(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A models package and a scripts package importing its model, both on sys.path."""
    tag = uuid.uuid4().hex[:8]
    models, scripts = f"mkmodels_{tag}", f"mkscripts_{tag}"
    write(
        tmp_path / models / "__init__.py",
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


        class Base(DeclarativeBase):
            pass


        class Item(Base):
            __tablename__ = "items"
            id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
        """,
    )
    write(
        tmp_path / models / "forgotten.py",
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import Mapped, mapped_column

        from . import Base


        class Forgotten(Base):
            __tablename__ = "forgotten"
            id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
        """,
    )
    write(tmp_path / models / "__main__.py", "raise SystemExit('models script ran')\n")
    write(tmp_path / scripts / "__init__.py", "")
    write(tmp_path / scripts / "tool.py", f"from {models} import Item\n")
    write(tmp_path / scripts / "__main__.py", "raise SystemExit('script ran')\n")
    write(tmp_path / scripts / "other.py", "raise SystemExit('other script ran')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield models, scripts
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith((models, scripts))]:
            del sys.modules[name]


def test_only_the_models_package_is_searched_and_no_main_runs(
    packages: tuple[str, str],
) -> None:
    models, scripts = packages
    __import__(f"{scripts}.tool")  # imports the model class, as a benchmark does
    metadata: sa.MetaData = sys.modules[models].Base.metadata

    (finding,) = unregistered_models([metadata])

    assert "table forgotten" in "\n".join(
        line for block in finding.blocks for line in block.lines
    )
    assert f"{models}.forgotten" in sys.modules
    assert f"{models}.__main__" not in sys.modules
    assert f"{scripts}.other" not in sys.modules
    assert f"{scripts}.__main__" not in sys.modules
