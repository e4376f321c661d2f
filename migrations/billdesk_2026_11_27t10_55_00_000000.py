"""The card that paid a charge (brand, last 4 digits) and Stripe's receipt page."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-27T10:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "charge card and receipt"


def _params(**extra):
    return {
        "default": None,
        "null": True,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billdesk", description=DESCRIPTION)
    for name, column_class, extra in (
        ("card_brand", Varchar, {"length": 20}),
        ("card_last4", Varchar, {"length": 4}),
        ("receipt_url", Text, {}),
    ):
        manager.add_column(
            table_class_name="Charge",
            tablename="charges",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=_params(**extra),
            schema=None,
        )
    return manager
