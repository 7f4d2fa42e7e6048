"""The migration ledger: what ran, when, by whom, from which file.

Alembic keeps one fact, the current revision. The ledger is a table beside the
version table (``<version_table>_ledger`` in the same schema, or the name set by
``migrationkit_ledger_table`` in alembic.ini) with one row per revision applied,
reverted or stamped, per review flag raised and acknowledged, and per edited
revision accepted. Each row carries the SHA-256 of the previous row, so a row
removed or rewritten afterwards breaks the chain and ``verify`` says so.
See docs/ledger.md.
"""

from migrationkit.ledger.table import LedgerEntry, LedgerTable, read_entries

__all__ = ["LedgerEntry", "LedgerTable", "read_entries"]
