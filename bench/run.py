"""`make bench`: billdesk beside a bare Litestar + asyncpg app, same SQL, same load.

For each size (10k, 100k, 1M tickets, seeded on PostgreSQL by bench/seed.py) it
serves billdesk and bench/reference_app.py with the same number of worker
processes, drives each page with wrk (Debian's `wrk`, loopback only, bounded in
time), alternating the two apps round by round so that machine noise hits both,
and prints one table. Then it measures tickets opened per second (PostgreSQL with
two workers, SQLite with one process) and each worker's memory, and writes
docs/benchmarks.md.

    .venv/bin/python bench/run.py [--sizes 10000,100000,1000000] [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_app
import seed

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKERS = 2
CONNECTIONS = 64
# Database connections per worker process, for billdesk and the bare app alike: both apps
# run at once and, with the seed and the tests of a shared machine, must stay well below
# PostgreSQL's stock max_connections of 100.
POOL_SIZE = 16
OPENING_CLIENTS = 16
STRIPE_KEY = "sk_test_billdesk_bench"
STRIPE_WEBHOOK_SECRET = "whsec_billdesk_bench"
PAID_DEPARTMENT = 6  # "Priority" in bench/seed.py: every ticket costs 15.00 USD


@dataclass
class Page:
    name: str
    path: str
    who: str
    cookie: bool = False

    @property
    def has_reference(self) -> bool:
        return self.path in reference_app.QUERIES


PAGES = [
    Page("staff queue API, 50 rows", "/api/v1/desk/tickets", "staff"),
    Page("staff queue page (HTML)", "/desk", "staff", cookie=True),
    Page("customer's ticket list API", "/api/v1/tickets", "customer"),
    Page("finance charges API", "/api/v1/finance/charges", "finance"),
    # Search (billdesk.search; the seed fills its index): a word in every ticket, a
    # customer's e-mail, a ticket number (which the answer's jump_to names).
    Page("staff queue API, search a word", "/api/v1/desk/tickets?q=server", "staff"),
    Page(
        "staff queue API, search an e-mail",
        "/api/v1/desk/tickets?q=customer17%40bench.test",
        "staff",
    ),
    Page("staff queue API, search a ticket number", "/api/v1/desk/tickets?q=%234242", "staff"),
    Page("staff queue page (HTML), search a word", "/desk?q=server", "staff", cookie=True),
]


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Row:
    page: str
    size: int
    billdesk: list[Run] = field(default_factory=list)
    reference: list[Run] = field(default_factory=list)
    queries: int | None = None
    reference_queries: int | None = None


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310  (loopback only)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


class Server:
    """A process group serving on loopback, stopped as a whole."""

    def __init__(
        self, command: list[str], env: dict[str, str], ready_path: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(self.base + ready_path)
        except RuntimeError:
            self.stop()
            raise

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process (the children of the server, not
        multiprocessing's resource tracker)."""
        out = subprocess.run(
            ["ps", "-o", "pid=,rss=,args=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        sizes = [
            int(line.split()[1]) / 1024
            for line in out.splitlines()
            if line.strip() and "resource_tracker" not in line
        ]
        if not sizes:  # a single process serves by itself
            status = Path(f"/proc/{self.process.pid}/status").read_text()
            sizes = [int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024]  # type: ignore[union-attr]
        return sizes

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def billdesk_server(
    database_url: str,
    data_dir: str,
    workers: int,
    *,
    stripe_base: str | None = None,
    port: int | None = None,
) -> Server:
    env = {
        "DATABASE_URL": database_url,
        "BILLDESK_DATA_DIR": data_dir,
        "BILLDESK_SECRET_KEY": "bench-secret-key-not-for-production",
        "BILLDESK_DB_POOL_SIZE": str(POOL_SIZE),
        "BILLDESK_WORKER_IN_APP": "0",
    }
    for name in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "BILLDESK_SMTP_URL", "TELEGRAM_BOT_TOKEN"):
        env[name] = ""
    if stripe_base:
        env.update(
            STRIPE_SECRET_KEY=STRIPE_KEY,
            STRIPE_API_BASE=stripe_base,
            STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET,
        )
    return Server(
        [
            str(BIN / "billdesk"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
            "--no-worker",
        ],
        env,
        "/healthz",
        port,
    )


def reference_server(database_url: str, workers: int) -> Server:
    return Server(
        [
            str(BIN / "uvicorn"),
            "--factory",
            "reference_app:create_app",
            "--app-dir",
            "bench",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {"DATABASE_URL": database_url, "BILLDESK_DB_POOL_SIZE": str(POOL_SIZE)},
        "/api/v1/tickets",
    )


# ------------------------------------------------------------------------ wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(
    url: str, *, headers: dict[str, str], seconds: int, connections: int, script: str | None = None
) -> Run:
    command = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    settle(url.split("/", 3)[0] + "//" + url.split("/", 3)[2])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    failed = re.search(r"Socket errors:.*?timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (int(failed.group(1)) if failed else 0)
    return Run(rps, p50, p99, errors)


def settle(base: str, timeout: float = 120) -> None:
    """Wait until the server has worked off what wrk left behind: requests whose client
    gave up are still answered, and a slow page's backlog would otherwise fall on the
    next page's measurement (the customer list once measured 0 req/s behind the desk)."""
    deadline = time.monotonic() + timeout
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=10)  # noqa: S310  (loopback only)
        except OSError:
            pass
        quick = quick + 1 if time.monotonic() - started < 0.05 else 0
        time.sleep(0.1)


def headers_for(page: Page) -> dict[str, str]:
    if page.cookie:
        return {"Cookie": f"billdesk_session={seed.SESSIONS[page.who]}"}
    return {"Authorization": f"Bearer {seed.TOKENS[page.who]}"}


# ------------------------------------------------------------ queries per page


def count_queries(database_url: str, data_dir: str) -> dict[str, int]:
    """Statements billdesk sends for one request of each page, counted in-process."""
    script = r"""
import asyncio, json, os, sys
from litestar.testing import AsyncTestClient
from billdesk.app import create_app
from billdesk.db import DB
pages = json.loads(sys.argv[1])
async def main():
    # Every statement reaches the engine's _run: Piccolo's queries and billdesk.sql's.
    engine = type(DB); original = engine._run; counted = []
    async def run(self, sql, args):
        counted.append(1)
        return await original(self, sql, args)
    engine._run = run
    result = {}
    async with AsyncTestClient(app=create_app(pooled=False, worker=False)) as client:
        for path, headers in pages:
            await client.get(path, headers=headers)
            counted.clear()
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
            result[path] = len(counted)
    print(json.dumps(result))
asyncio.run(main())
"""
    pages = [(page.path, headers_for(page)) for page in PAGES]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BILLDESK_DATA_DIR": data_dir,
        "BILLDESK_WORKER_IN_APP": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(pages)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------ ticket openings

OPEN_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"department_id": 1, "message": "My server does not answer since this morning."}'
"""


PAID_SCRIPT = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"department_id": {PAID_DEPARTMENT}, "message": "Please move my site to the new server.", "accept_price": {{"amount": 1500, "currency": "usd"}}}}'
"""

CARD_SCRIPT = r"""
import asyncio
from billdesk.payments.stripe_api import stripe_client
from billdesk.stripe_dev import _ensure_card, _wait_for_stripe
from billdesk.tables import User
async def main():
    client = stripe_client()
    await asyncio.to_thread(_wait_for_stripe, client)
    user = await User.select(User.id, User.email, User.name, User.stripe_customer_id).where(
        User.email == "customer1@bench.test").first()
    customer = await asyncio.to_thread(_ensure_card, client, user, "4242424242424242")
    await User.update({User.stripe_customer_id: customer}).where(User.id == user["id"])
asyncio.run(main())
"""


# One client, one request at a time: a free opening, a paid one, and the Stripe calls a
# paid opening makes (billdesk's own saved-card look-up, then create and confirm a
# PaymentIntent), made as billdesk makes them (its client, the SDK's `_async` calls) and
# timed by the bench against the same stand-in, in turn, `rounds` times.
# What a paid ticket adds beyond the Stripe call is then paid - free - stripe.
BREAKDOWN_SCRIPT = r"""
import asyncio, json, statistics, sys, time, urllib.request
from billdesk.payments.stripe_api import call_async, close, find_saved_card
from billdesk.tables import User
base, token, paid_department, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

async def open_ticket(body):
    request = urllib.request.Request(
        base + "/api/v1/tickets", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
        assert answer.status == 201, answer.status
    return (time.perf_counter() - started) * 1000

async def payment(client, customer):
    card = await find_saved_card(client, customer)
    intent = await client.v1.payment_intents.create_async(params={
        "amount": 1500, "currency": "usd", "customer": customer,
        "payment_method": card.payment_method_id})
    await client.v1.payment_intents.confirm_async(intent.id, params={"off_session": True})

async def stripe_calls(customer):
    started = time.perf_counter()
    await call_async(lambda client: payment(client, customer))
    return (time.perf_counter() - started) * 1000

async def main():
    row = await User.select(User.stripe_customer_id).where(
        User.email == "customer1@bench.test").first()
    customer = row["stripe_customer_id"]
    free, paid, stripe = [], [], []
    for _ in range(rounds + 3):  # the first three warm up
        free.append(await open_ticket({"department_id": 1, "message": "Free, one at a time."}))
        paid.append(await open_ticket({"department_id": paid_department,
                                       "message": "Paid, one at a time.",
                                       "accept_price": {"amount": 1500, "currency": "usd"}}))
        stripe.append(await stripe_calls(customer))
    await close()
    print(json.dumps({name: statistics.median(values[3:])
                      for name, values in (("free", free), ("paid", paid), ("stripe", stripe))}))

asyncio.run(main())
"""


@dataclass
class Breakdown:
    """Medians, in ms, of one-at-a-time openings and of the Stripe calls of a paid one."""

    free: float
    paid: float
    stripe: float

    @property
    def added(self) -> float:
        return self.paid - self.free - self.stripe


def paid_openings(database_url: str, seconds: int, data_dir: str) -> tuple[Run, Breakdown]:
    """Paid tickets opened per second: billdesk charging the bench customer's saved card on
    the local Stripe stand-in (`billdesk stripe-dev-server`), which calls its webhook back;
    then the one-at-a-time breakdown of what a paid opening adds (BREAKDOWN_SCRIPT)."""
    stripe_port, app_port = free_port(), free_port()
    stripe_base = f"http://127.0.0.1:{stripe_port}"
    stripe_server = Server(
        [
            str(BIN / "billdesk"),
            "stripe-dev-server",
            "--port",
            "{port}",
            "--webhook-url",
            f"http://127.0.0.1:{app_port}/stripe/webhook",
            "--webhook-secret",
            STRIPE_WEBHOOK_SECRET,
        ],
        {},
        "/",
        stripe_port,
    )
    try:
        subprocess.run(
            [sys.executable, "-c", CARD_SCRIPT],
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "BILLDESK_DATA_DIR": data_dir,
                "STRIPE_SECRET_KEY": STRIPE_KEY,
                "STRIPE_API_BASE": stripe_base,
            },
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = billdesk_server(
            database_url, data_dir, WORKERS, stripe_base=stripe_base, port=app_port
        )
        try:
            run = openings(server.base, seconds, data_dir, paid=True)
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    BREAKDOWN_SCRIPT,
                    server.base,
                    seed.TOKENS["customer"],
                    str(PAID_DEPARTMENT),
                    "100",
                ],
                env={
                    **os.environ,
                    "DATABASE_URL": database_url,
                    "BILLDESK_DATA_DIR": data_dir,
                    "STRIPE_SECRET_KEY": STRIPE_KEY,
                    "STRIPE_API_BASE": stripe_base,
                },
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            return run, Breakdown(**json.loads(out.strip().splitlines()[-1]))
        finally:
            server.stop()
    finally:
        stripe_server.stop()


def openings(base: str, seconds: int, data_dir: str, *, paid: bool = False) -> Run:
    script = Path(data_dir) / ("paid.lua" if paid else "open.lua")
    script.write_text(PAID_SCRIPT if paid else OPEN_SCRIPT)
    return wrk(
        base + "/api/v1/tickets",
        headers={"Authorization": f"Bearer {seed.TOKENS['customer']}"},
        seconds=seconds,
        connections=OPENING_CLIENTS,
        script=str(script),
    )


def sqlite_database(data_dir: str) -> str:
    """A small SQLite database with the bench's customer, department and token."""
    path = Path(data_dir) / "bench.sqlite3"
    url = f"sqlite:///{path}"
    env = {**os.environ, "DATABASE_URL": url, "BILLDESK_DATA_DIR": data_dir}
    subprocess.run(
        [str(BIN / "billdesk"), "migrate"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    import hashlib

    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO departments (name, slug, description, public, active, free_tickets, "
            "quota_period, ticket_price, currency, created_at) VALUES "
            "('Hosting', 'hosting', '', 1, 1, NULL, 'month', 0, 'usd', datetime('now'))"
        )
        db.execute(
            "INSERT INTO users (email, name, role, password_hash, active, created_at) VALUES "
            "('customer1@bench.test', 'Customer 1', 'customer', '', 1, datetime('now'))"
        )
        digest = hashlib.sha256(seed.TOKENS["customer"].encode()).hexdigest()
        db.execute(
            'INSERT INTO api_tokens ("user", name, token_hash, prefix, created_at) '
            "VALUES (1, 'bench', ?, 'bd_bench', datetime('now'))",
            (digest,),
        )
    return url


# ---------------------------------------------------------------------- report


def median(runs: list[Run], attribute: str) -> float:
    return statistics.median(getattr(run, attribute) for run in runs) if runs else float("nan")


def table(rows: list[Row]) -> str:
    lines = [
        "| page | tickets | billdesk req/s | p50 ms | p99 ms | bare app req/s | p50 ms | p99 ms "
        "| ratio | queries/request (billdesk / bare) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ours = [
            f"{median(row.billdesk, 'rps'):,.0f}",
            f"{median(row.billdesk, 'p50_ms'):.1f}",
            f"{median(row.billdesk, 'p99_ms'):.1f}",
        ]
        if row.reference:
            theirs = [
                f"{median(row.reference, 'rps'):,.0f}",
                f"{median(row.reference, 'p50_ms'):.1f}",
                f"{median(row.reference, 'p99_ms'):.1f}",
            ]
            ratio = f"{median(row.billdesk, 'rps') / median(row.reference, 'rps'):.2f}"
        else:
            theirs, ratio = ["—", "—", "—"], "—"
        queries = f"{row.queries} / {row.reference_queries if row.reference_queries else '—'}"
        lines.append(
            f"| {row.page} | {row.size:,} | " + " | ".join([*ours, *theirs, ratio, queries]) + " |"
        )
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    cpus = os.cpu_count()
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = (
        int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
    )  # type: ignore[union-attr]
    postgres = subprocess.run(
        ["psql", ADMIN_URL, "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{cpus} CPUs ({model}), {memory:,} MB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {postgres or '?'}; "
        f"load average at the start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )


# ------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk: apt-get install wrk")
    sizes = [int(size) for size in args.sizes.split(",")]
    started = datetime.now(UTC)
    about_machine = machine()
    rows: list[Row] = []
    notes: list[str] = []
    rss: list[float] = []
    data_dir = tempfile.mkdtemp(prefix="billdesk-bench-")
    pg_openings: Run | None = None
    pg_paid: Run | None = None
    breakdown: Breakdown | None = None
    for size in sizes:
        seed_started = time.monotonic()
        database_url = asyncio.run(seed.seed(ADMIN_URL, size))
        notes.append(f"{size:,} tickets ready in {time.monotonic() - seed_started:.0f} s")
        queries = count_queries(database_url, data_dir)
        ours = billdesk_server(database_url, data_dir, WORKERS)
        theirs = reference_server(database_url, WORKERS)
        try:
            for page in PAGES:
                row = Row(
                    page.name,
                    size,
                    queries=queries.get(page.path),
                    reference_queries=reference_app.QUERIES.get(page.path),
                )
                headers = headers_for(page)
                for server in (ours, theirs) if page.has_reference else (ours,):  # warm up
                    wrk(
                        server.base + page.path, headers=headers, seconds=2, connections=CONNECTIONS
                    )
                for _ in range(args.rounds):
                    row.billdesk.append(
                        wrk(
                            ours.base + page.path,
                            headers=headers,
                            seconds=args.seconds,
                            connections=CONNECTIONS,
                        )
                    )
                    if page.has_reference:
                        row.reference.append(
                            wrk(
                                theirs.base + page.path,
                                headers=headers,
                                seconds=args.seconds,
                                connections=CONNECTIONS,
                            )
                        )
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
            if size == sizes[0]:
                pg_openings = openings(ours.base, args.seconds, data_dir)
            rss = ours.worker_rss_mb()
        finally:
            ours.stop()
            theirs.stop()
        if size == sizes[0]:
            try:
                pg_paid, breakdown = paid_openings(database_url, args.seconds, data_dir)
            except (RuntimeError, subprocess.CalledProcessError) as error:
                notes.append(f"paid openings not measured: {error}")
    sqlite_server = billdesk_server(sqlite_database(data_dir), data_dir, 1)
    try:
        sqlite_openings = openings(sqlite_server.base, args.seconds, data_dir)
    finally:
        sqlite_server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)

    report = table(rows)
    opening_lines = [
        "| opening a ticket (16 clients) | tickets/s | p50 ms | p99 ms | refused |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, run in (
        ("PostgreSQL, 2 workers", pg_openings),
        ("paid, on the local Stripe stand-in, PostgreSQL, 2 workers", pg_paid),
        ("SQLite, 1 process", sqlite_openings),
    ):
        if run:
            opening_lines.append(
                f"| {label} | {run.rps:,.0f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} | {run.errors} |"
            )
    if breakdown:
        opening_lines += [
            "",
            "| one client, one opening at a time (PostgreSQL) | p50 ms |",
            "| --- | --- |",
            f"| a free ticket | {breakdown.free:.1f} |",
            f"| a paid ticket, charged on the Stripe stand-in | {breakdown.paid:.1f} |",
            f"| its Stripe calls alone (card look-up, create, confirm) | {breakdown.stripe:.1f} |",
            f"| what a paid ticket adds beyond its Stripe calls (paid - free - Stripe) "
            f"| {breakdown.added:.1f} |",
        ]
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            f"Measured by `make bench` (bench/run.py) on {started:%Y-%m-%d %H:%M} UTC.",
            "",
            f"Machine: {about_machine}. The machine is shared: other processes ran at the same",
            "time, so absolute figures move from run to run; the two apps were driven in",
            "alternation so that noise falls on both.",
            "",
            f"Load: wrk, {CONNECTIONS} connections, 2 threads, {args.rounds} rounds of {args.seconds} s per app",
            f"and page (medians shown), after 2 s of warm-up; {WORKERS} worker processes per app; loopback.",
            "The bare app (bench/reference_app.py) is Litestar + asyncpg with billdesk's SQL",
            "and JSON and asyncpg's default pool, and for the staff queue page billdesk's HTML",
            "through plain Jinja2 (its module docstring says what it leaves out).",
            "",
            report,
            "",
            *opening_lines,
            "",
            f"Memory per billdesk worker after the load: {', '.join(f'{mb:.0f} MB' for mb in rss)}.",
            "",
            "Seeding: " + "; ".join(notes) + ".",
            "",
        ]
    )
    print()
    print(report)
    print("\n".join(opening_lines))
    print(f"RSS per worker: {', '.join(f'{mb:.0f} MB' for mb in rss)}")
    output = Path(args.output)
    previous = output.read_text() if output.exists() else ""
    if KEPT in previous:  # measured by other scripts (bench/bench_reports.py): kept as written
        text = text.rstrip("\n") + "\n\n" + previous[previous.index(KEPT) :]
    output.write_text(text)
    print(f"written to {args.output}")


KEPT = "## Reports"
"""The part of docs/benchmarks.md from this heading on is another script's, kept on rewrite."""


if __name__ == "__main__":
    main()
