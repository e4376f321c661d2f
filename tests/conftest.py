"""Test set-up: a fresh database per run (SQLite, or PostgreSQL when
BILLDESK_TEST_DATABASE_URL is set), migrated once and emptied between tests.

The environment is set before billdesk is imported, because its settings and
engine are read once per process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="billdesk-test-"))
_PG_ADMIN_URL = os.environ.get("BILLDESK_TEST_DATABASE_URL")
_PG_DATABASE = f"billdesk_test_{secrets.token_hex(4)}"


def _free_port_for_mail() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _pg_admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn=_PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


if _PG_ADMIN_URL:
    asyncio.run(_pg_admin(f'CREATE DATABASE "{_PG_DATABASE}"'))
    os.environ["DATABASE_URL"] = _with_database(_PG_ADMIN_URL, _PG_DATABASE)
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'billdesk.sqlite3'}"
os.environ["BILLDESK_DATA_DIR"] = str(_TMP / "data")
os.environ["BILLDESK_UPLOAD_DIR"] = str(_TMP / "uploads")
os.environ["BILLDESK_SECRET_KEY"] = "test-secret-" + secrets.token_hex(16)
# Mail goes to the session's SMTP server on loopback (the `mailbox` fixture), and the
# admin page reads what it caught.
_SMTP_PORT = _free_port_for_mail()
os.environ["BILLDESK_SMTP_URL"] = f"smtp://127.0.0.1:{_SMTP_PORT}?timeout=5"
os.environ["BILLDESK_MAIL_FROM"] = "Example Hosting <support@hosting.test>"
os.environ["BILLDESK_MAIL_CATCHER_DIR"] = str(_TMP / "caught-mail")
for name in ("BILLDESK_MAIL_REPLY_TO", "BILLDESK_MAIL_DEPARTMENT", "BILLDESK_IMAP_URL"):
    os.environ.pop(name, None)
# Jobs run where a test says so (jobs.drain(), or a worker it starts), never in a
# server that a test starts for something else.
os.environ["BILLDESK_WORKER_IN_APP"] = "0"
for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
    os.environ.pop(name, None)

from litestar.testing import AsyncTestClient  # noqa: E402

from billdesk.app import create_app  # noqa: E402
from billdesk.cli import migrate  # noqa: E402
from billdesk.db import DB  # noqa: E402
from billdesk.payments import stripe_api  # noqa: E402
from billdesk.settings import get_settings  # noqa: E402
from tests.factories import login  # noqa: E402


def make_client() -> AsyncTestClient:
    """A client that sees redirects as answers, as a test of a page wants."""
    test_client = AsyncTestClient(
        app=create_app(pooled=False, worker=False), base_url="http://127.0.0.1"
    )
    test_client.follow_redirects = False
    return test_client


ENGINE = "postgres" if _PG_ADMIN_URL else "sqlite"


def pytest_report_header() -> str:
    return f"billdesk database: {ENGINE} ({os.environ['DATABASE_URL']})"


def pytest_sessionfinish() -> None:
    if _PG_ADMIN_URL:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_PG_DATABASE}" WITH (FORCE)'))


def _all_tables() -> list[str]:
    from billdesk.piccolo_app import APP_CONFIG

    return [table._meta.tablename for table in APP_CONFIG.table_classes]


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[None]:
    await migrate()
    yield


@pytest.fixture(scope="session", autouse=True)
def mail_server():
    """The SMTP server every mail of the suite goes to (billdesk's catcher), for the session."""
    from tests.support.mailbox import Mailbox

    server = Mailbox(_SMTP_PORT, Path(os.environ["BILLDESK_MAIL_CATCHER_DIR"]))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(mail_server):
    """The session's SMTP server, emptied for this test, and running again after it."""
    mail_server.clear()
    yield mail_server
    if not mail_server.running:
        mail_server.start()
    mail_server.clear()


@pytest.fixture(autouse=True)
async def clean_database(database: None) -> AsyncIterator[None]:
    yield
    # Connections a test opened to Stripe close with it, as a worker's do at shutdown.
    await stripe_api.close()
    tables = _all_tables()
    if get_settings().is_postgres:
        await DB.run_ddl(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        for table in tables:
            await DB.run_ddl(f"DELETE FROM {table}")  # noqa: S608


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:
    """An anonymous browser or API client on a fresh app."""
    async with make_client() as test_client:
        yield test_client


@pytest.fixture
def app_client_factory():
    """Make more clients, each on its own app instance (a fresh process, as far as state goes)."""
    return make_client


@pytest.fixture
async def customer_client(client: AsyncTestClient) -> AsyncTestClient:
    from tests.factories import make_user

    user = await make_user(role="customer")
    await login(client, user.email)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="session")
def live_server(database: None) -> Iterator[str]:
    """The base URL of billdesk served by two worker processes on the test database."""
    from tests.support.live_server import serve

    # Open desk pages ask for changes every second, so a browser test sees them soon.
    with serve(workers=2, env={"BILLDESK_LIVE_QUEUE_SECONDS": "1"}) as base_url:
        yield base_url


@pytest.fixture
def clock():
    """billdesk's clock, frozen at a fixed moment; `clock.advance(timedelta)` moves it."""
    from datetime import UTC, datetime

    from billdesk import clock as billdesk_clock

    billdesk_clock.freeze(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    try:
        yield billdesk_clock
    finally:
        billdesk_clock.unfreeze()
