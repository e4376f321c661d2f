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


# Columns a migration adds in raw SQL on one engine only, outside Piccolo's column types:
# the search index's weighted tsvector (billdesk.search).
ENGINE_ONLY_COLUMNS = {"postgres": {"ticket_search": {"document"}}, "sqlite": {}}


async def test_every_table_and_column_exists_after_migrate():
    engine = "postgres" if get_settings().is_postgres else "sqlite"
    for table in APP_CONFIG.table_classes:
        expected = {column._meta.db_column_name for column in table._meta.columns}
        expected |= ENGINE_ONLY_COLUMNS[engine].get(table._meta.tablename, set())
        assert await _columns_in_database(table) == expected, table._meta.tablename


async def test_charges_from_before_attempts_get_their_attempt_row():
    import importlib

    from billdesk.tables import Charge, PaymentAttempt
    from tests.factories import make_department, make_user
    from tests.payment_helpers import awaiting_ticket

    customer = await make_user()
    department = await make_department(free_tickets=0)
    ticket_id = await awaiting_ticket(customer_id=customer.id, department_id=department)
    await Charge.insert(Charge(
        ticket=ticket_id, customer=customer.id, department=department, amount=900,
        currency="usd", status="partially_refunded", idempotency_key="legacy-key",
        stripe_payment_intent_id="pi_legacy", attempt=2,
    ))
    step = importlib.import_module("migrations.billdesk_2026_11_27t05_40_00_000000")
    manager = await step.forwards()

    for _ in range(2):  # running it again adds nothing
        await manager.raw[0]()

    rows = await PaymentAttempt.select(
        PaymentAttempt.number, PaymentAttempt.status, PaymentAttempt.idempotency_key,
        PaymentAttempt.stripe_payment_intent_id, PaymentAttempt.amount,
    )
    assert rows == [{"number": 2, "status": "succeeded", "idempotency_key": "legacy-key",
                     "stripe_payment_intent_id": "pi_legacy", "amount": 900}]
