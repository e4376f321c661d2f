"""The migrations and tables.py agree, on the engine under test."""

from __future__ import annotations

from piccolo.apps.migrations.commands.new import AutoMigrationManager

from billdesk.piccolo_app import APP_CONFIG
from billdesk.settings import get_settings


async def _columns_in_database(table) -> set[str]:
    tablename = table._meta.tablename
    if get_settings().is_postgres:
        rows = await table.raw(
            "SELECT column_name FROM information_schema.columns WHERE table_name = {}", tablename
        )
        return {row["column_name"] for row in rows}
    rows = await table.raw(f"PRAGMA table_info({tablename})")  # the name comes from tables.py
    return {row["name"] for row in rows}


async def test_an_automatic_migration_finds_nothing_to_change():
    statements = await AutoMigrationManager().get_alter_statements(app_config=APP_CONFIG)
    changes = [s for s in statements if s.statements]
    assert changes == [], [s.statements for s in changes]


async def test_every_table_and_column_exists_after_migrate():
    for table in APP_CONFIG.table_classes:
        expected = {column._meta.db_column_name for column in table._meta.columns}
        assert await _columns_in_database(table) == expected, table._meta.tablename
