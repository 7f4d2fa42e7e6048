"""The data hook that proves 002 on data: every item must become a product."""

import sqlalchemy as sa

from migrationkit.prove import DataHook


def items_with_and_without_price(connection: sa.Connection) -> int:
    connection.execute(
        sa.text(
            "INSERT INTO items (name, price_cents)"
            " SELECT 'item ' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE g END"
            " FROM generate_series(1, 20) AS g"
        )
    )
    return 20


def every_item_is_a_product(connection: sa.Connection, items: int) -> None:
    products = connection.scalar(sa.text("SELECT count(*) FROM products"))
    assert products == items, f"{items} items became {products} products"


HOOKS = (
    DataHook(
        revision="002",
        before=items_with_and_without_price,
        after=every_item_is_a_product,
    ),
)
