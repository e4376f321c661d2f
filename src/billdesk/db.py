"""The database engine chosen by DATABASE_URL, and the Piccolo app registry.

Piccolo's tools find their configuration through the PICCOLO_CONF module; this
module is that configuration wherever billdesk is installed, and the top-level
`piccolo_conf.py` of a checkout re-exports it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from billdesk.db_sqlite import BilldeskSQLiteEngine
from billdesk.settings import get_settings

os.environ.setdefault("PICCOLO_CONF", "billdesk.db")


def engine_for(database_url: str) -> PostgresEngine | SQLiteEngine:
    """A Piccolo engine for a `sqlite:///path` or `postgresql://…` URL."""
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url}, log_queries=False)
    parsed = urlparse(database_url)
    if parsed.scheme != "sqlite":
        raise ValueError(
            f"DATABASE_URL must start with sqlite:/// or postgresql://, not {parsed.scheme}:"
        )
    path = database_url.removeprefix("sqlite:///")
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    settings = get_settings()
    return BilldeskSQLiteEngine(
        path=path, busy_timeout=settings.sqlite_busy_timeout, readers=settings.sqlite_readers
    )


DB = engine_for(get_settings().database_url)


def write_transaction():
    """One action's transaction; on SQLite it takes the write lock at once, so the
    conditional updates inside it (quota and throttle counters) are atomic across processes."""
    if isinstance(DB, SQLiteEngine):
        return DB.transaction(transaction_type=TransactionType.immediate)
    return DB.transaction()

async def count_up_to(query: Any, cap: int) -> tuple[int, bool]:
    """How many rows a select returns, counted up to `cap` and no further, and whether
    there are more: the cost of a total stays bounded however large the table grows."""
    rows = await DB.run_querystring(
        QueryString("SELECT COUNT(*) AS n FROM ({}) AS capped", query.limit(cap + 1).querystrings[0])
    )
    found = int(rows[0]["n"])
    return min(found, cap), found > cap


APP_REGISTRY = AppRegistry(apps=["billdesk.piccolo_app"])
