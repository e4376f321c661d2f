"""Money taken and refunded per month, department, currency and status, kept by the database.

The finance list's per-currency totals add these rows for the whole months its
date filter covers, and add up the charges themselves only for the part-months at
its edges (at most a month of charges each) or for one customer's charges. The
totals then cost the same at a thousand charges and at a million
(docs/performance.md), and stay exact.

Triggers on `charges` move the rows in the same transaction as the change,
whichever write path made it (a payment, a refund, a webhook, a fix in SQL): the
old values of a changed charge are taken out of their row and the new ones added.
Only charges where money was taken count (`finance.COLLECTED`).
"""

# The SQL below is built from this module's constants only, never from input.
# ruff: noqa: S608

from __future__ import annotations

from billdesk.db import DB

TABLE = "charge_month_totals"
COLLECTED = ("succeeded", "partially_refunded", "refunded")
_COLLECTED_SQL = ", ".join(f"'{status}'" for status in COLLECTED)
_KEY = "(month, department, currency, status)"


def _month(row: str, engine: str) -> str:
    """SQL for the charge's month in UTC, 'YYYY-MM'."""
    if engine == "postgres":
        return f"to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    # Piccolo stores SQLite times as UTC text, '2026-11-27 10:00:00+00:00'.
    return f"substr({row}.created_at, 1, 7)"


def _counted(row: str) -> str:
    return f"({row}.status IN ({_COLLECTED_SQL}))"


def _add(row: str, engine: str, sign: str) -> str:
    return (
        f"INSERT INTO {TABLE} (month, department, currency, status, charged, refunded, charges) "
        f"VALUES ({_month(row, engine)}, {row}.department, {row}.currency, {row}.status, "
        f"{sign}{row}.amount, {sign}{row}.refunded_amount, {sign}1) "
        f"ON CONFLICT {_KEY} DO UPDATE SET "
        f"charged = {TABLE}.charged + excluded.charged, "
        f"refunded = {TABLE}.refunded + excluded.refunded, "
        f"charges = {TABLE}.charges + excluded.charges"
    )


UNIQUE_KEY = f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_key ON {TABLE} {_KEY}"

_WATCHED = "amount, refunded_amount, status, currency, department, created_at"

POSTGRES_TRIGGERS = [
    f"""
CREATE OR REPLACE FUNCTION billdesk_charge_month_totals() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND {_counted("OLD")} THEN
        {_add("OLD", "postgres", "-")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND {_counted("NEW")} THEN
        {_add("NEW", "postgres", "")};
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
""",
    "DROP TRIGGER IF EXISTS charges_month_totals ON charges",
    f"""
CREATE TRIGGER charges_month_totals
AFTER INSERT OR DELETE OR UPDATE OF {_WATCHED} ON charges
FOR EACH ROW EXECUTE FUNCTION billdesk_charge_month_totals()
""",
]

SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER IF NOT EXISTS charges_month_totals_insert AFTER INSERT ON charges
WHEN {_counted("NEW")}
BEGIN {_add("NEW", "sqlite", "")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS charges_month_totals_delete AFTER DELETE ON charges
WHEN {_counted("OLD")}
BEGIN {_add("OLD", "sqlite", "-")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS charges_month_totals_leave AFTER UPDATE OF {_WATCHED} ON charges
WHEN {_counted("OLD")}
BEGIN {_add("OLD", "sqlite", "-")}; END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS charges_month_totals_enter AFTER UPDATE OF {_WATCHED} ON charges
WHEN {_counted("NEW")}
BEGIN {_add("NEW", "sqlite", "")}; END
""",
]


def recount_statements(engine: str) -> list[str]:
    """Rebuild every row from the charges (the migration, and bulk loads such as the bench)."""
    month = _month("charges", engine)
    return [
        f"DELETE FROM {TABLE}",
        f"INSERT INTO {TABLE} (month, department, currency, status, charged, refunded, charges) "
        f"SELECT {month}, department, currency, status, SUM(amount), SUM(refunded_amount), "
        f"COUNT(*) FROM charges WHERE status IN ({_COLLECTED_SQL}) "
        f"GROUP BY {month}, department, currency, status",
    ]


async def recount() -> None:
    """Rebuild the month totals from the charges, in one transaction."""
    async with DB.transaction():
        for statement in recount_statements(DB.engine_type):
            await DB.run_ddl(statement)


async def install() -> None:
    """Create the key index and the triggers, and add up what is there (idempotent)."""
    await DB.run_ddl(UNIQUE_KEY)
    for statement in POSTGRES_TRIGGERS if DB.engine_type == "postgres" else SQLITE_TRIGGERS:
        await DB.run_ddl(statement)
    await recount()
