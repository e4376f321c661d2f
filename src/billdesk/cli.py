"""The `billdesk` command: serve, worker, migrate, demo, user, token, reconcile, mail,
telegram.

Each subcommand reads DATABASE_URL and the other settings from the environment,
and exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from billdesk.errors import DeskError


class CommandFailed(Exception):
    """A one-line reason to print before exiting with status 1."""


async def _with_db(work: Callable[[], Awaitable[Any]]) -> Any:
    from billdesk import audit
    from billdesk.db import DB
    from billdesk.settings import get_settings

    pooled = get_settings().is_postgres
    if pooled:
        await DB.start_connection_pool(min_size=1, max_size=2)  # type: ignore[call-arg]
    try:
        # What a command changes is recorded in the audit log as done from the command line.
        with audit.acting(audit.Actor(email="command line", ip="local")):
            return await work()
    finally:
        from billdesk.payments import stripe_api

        await stripe_api.close()
        if pooled:
            await DB.close_connection_pool()
        else:
            await DB.close_connections()  # type: ignore[union-attr]


async def migrate() -> int:
    """Apply every migration not yet applied; how many were applied.

    Piccolo's own report is kept quiet: on a fresh database it counts every
    migration as "already complete" before running them all.
    """
    import contextlib
    import io
    import re

    from piccolo.apps.migrations.commands.forwards import run_forwards

    import billdesk.db  # noqa: F401  (sets PICCOLO_CONF)

    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        result = await run_forwards(app_name="all", migration_id="all")
    if not result.success:
        sys.stderr.write(report.getvalue())
        raise CommandFailed(f"migration failed: {result.message}")
    ran = re.search(r"Running (\d+) migration", report.getvalue())
    return int(ran.group(1)) if ran else 0


def cmd_migrate(_: argparse.Namespace) -> None:
    applied = asyncio.run(migrate())
    if applied:
        print(f"Applied {applied} migration{'s' if applied != 1 else ''}; the database is up to date.")
    else:
        print("Nothing to apply; the database was already up to date.")


def cmd_demo(_: argparse.Namespace) -> None:
    from billdesk.demo import PASSWORD, load_demo

    users = asyncio.run(_with_db(load_demo))
    from billdesk.settings import get_settings

    print(f"Demo data loaded. Log in at {get_settings().base_url}/login with:")
    for user in users:
        print(f"  {user.role:<9} {user.email:<24} password: {PASSWORD}")


def cmd_serve(args: argparse.Namespace) -> None:
    import os

    import uvicorn

    from billdesk.settings import get_settings

    check_port_free(args.host, args.port)
    if args.no_worker:
        # Read by create_app() in this process and in every process uvicorn starts.
        os.environ["BILLDESK_WORKER_IN_APP"] = "0"
        get_settings.cache_clear()

    uvicorn.run(
        "billdesk.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_level="info",
        # A line per request costs more CPU than the queue page itself under load.
        access_log=get_settings().access_log,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    import logging
    import signal

    from billdesk.db import DB
    from billdesk.jobs import Runner, WorkerBusy
    from billdesk.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    runner = Runner(concurrency=args.concurrency)

    async def work() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop)
        if settings.is_postgres:
            # A connection per running job, and one for claims and leases.
            await DB.start_connection_pool(min_size=1, max_size=runner.concurrency + 2)  # type: ignore[call-arg]
        try:
            await runner.run(standby=False)
        except WorkerBusy as exc:
            raise CommandFailed(str(exc)) from None
        finally:
            from billdesk.payments import stripe_api
            from billdesk.telegram import close_bots

            await close_bots()
            await stripe_api.close()
            if settings.is_postgres:
                await DB.close_connection_pool()
            else:
                await DB.close_connections()  # type: ignore[union-attr]

    asyncio.run(work())


def cmd_user_create(args: argparse.Namespace) -> None:
    from billdesk.accounts import create_user

    user_id = asyncio.run(
        _with_db(
            lambda: create_user(
                email=args.email, name=args.name, role=args.role, password=args.password
            )
        )
    )
    print(f"Created user {user_id} ({args.email}, {args.role}).")


def cmd_token_create(args: argparse.Namespace) -> None:
    from billdesk.auth import create_api_token, normalize_email
    from billdesk.tables import User

    async def work() -> tuple[int, str]:
        row = (
            await User.select(User.id, User.active)
            .where(User.email == normalize_email(args.email))
            .first()
        )
        if row is None:
            raise CommandFailed(f"no user with the email {args.email}")
        if not row["active"]:
            raise CommandFailed(f"the user {args.email} is deactivated")
        return await create_api_token(
            user_id=row["id"], name=args.name or "", read_only=args.read_only
        )

    token_id, secret = asyncio.run(_with_db(work))
    print(f"Token {token_id} created for {args.email}. It is shown only this once:")
    print(secret)


def cmd_token_revoke(args: argparse.Namespace) -> None:
    from billdesk.auth import revoke_api_token
    from billdesk.validation import parse_id

    token_id = parse_id("id", args.id, what="token id")
    assert token_id is not None
    if not asyncio.run(_with_db(lambda: revoke_api_token(token_id))):
        raise CommandFailed(f"no active token with the id {args.id}")
    print(f"Token {args.id} revoked.")


def cmd_reconcile(args: argparse.Namespace) -> None:
    from billdesk.payments import reconcile

    if args.verify:
        cmd_verify_ledger(args)
        return
    report = asyncio.run(_with_db(reconcile))
    print(
        f"Checked {report.checked} charges: {report.paid} paid, {report.unpaid} awaiting "
        f"payment, {report.unchanged} unchanged."
    )
    if report.errors:
        raise CommandFailed("; ".join(report.errors))


def cmd_verify_ledger(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from billdesk import clock
    from billdesk.payments.ledger import verify_ledger

    if args.days < 1:
        raise CommandFailed("--days must be 1 or more")
    since = clock.now() - timedelta(days=args.days)
    report = asyncio.run(_with_db(lambda: verify_ledger(since=since)))
    if report.error:
        raise CommandFailed(report.error)
    print(
        f"Compared {report.intents_checked} PaymentIntents and {report.refunds_checked} "
        f"refunds since {since:%Y-%m-%d} with Stripe: {len(report.differences)} "
        f"difference{'' if len(report.differences) == 1 else 's'}."
    )
    for difference in report.differences:
        charge = f"charge {difference.charge_id}" if difference.charge_id else "no charge"
        print(f"  {difference.kind:<24} {charge:<14} {difference.detail}")
    if report.differences:
        raise CommandFailed("the ledger differs from Stripe; see docs/payments.md")


def cmd_stripe_dev_server(args: argparse.Namespace) -> None:
    check_port_free(getattr(args, "host", "127.0.0.1"), args.port)
    from billdesk.stripe_dev import serve

    try:
        serve(port=args.port, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    except RuntimeError as exc:
        raise CommandFailed(str(exc)) from None


def cmd_demo_cards(_: argparse.Namespace) -> None:
    from billdesk.stripe_dev import give_demo_cards, give_demo_payments

    for email, last4 in asyncio.run(_with_db(give_demo_cards)):
        print(f"  {email:<24} card ending {last4}")
    for ticket_id, state in asyncio.run(_with_db(give_demo_payments)):
        print(f"  ticket #{ticket_id:<16} {state}")


# sysexits.h EX_TEMPFAIL: the MTA keeps the mail and tries again later.
EXIT_TRY_LATER = 75
MAX_MAIL_BYTES = 40 * 1024 * 1024


def cmd_mail_receive(args: argparse.Namespace) -> None:
    """One mail on stdin into billdesk: exit 0 once handled (refusals included, each
    logged), 75 with a reason on stderr when the MTA should try again later."""
    import logging

    from billdesk.mail.inbound import receive

    raw = sys.stdin.buffer.read(MAX_MAIL_BYTES + 1)
    if len(raw) > MAX_MAIL_BYTES:
        # Keep what the log needs (the headers); the rest is refused by receive().
        raw = raw[:MAX_MAIL_BYTES]
    logging.basicConfig(level=logging.WARNING, format="billdesk: %(message)s")
    try:
        result = asyncio.run(
            _with_db(lambda: receive(raw, source="pipe", envelope_recipient=args.recipient))
        )
    except Exception as exc:  # the database, most likely: nothing was handled
        print(f"billdesk: mail not handled, try again later: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        raise SystemExit(EXIT_TRY_LATER) from None
    print(f"{result.outcome}: {result.reason}")


def cmd_mail_catcher(args: argparse.Namespace) -> None:
    check_port_free(getattr(args, "host", "127.0.0.1"), args.port)
    from pathlib import Path

    from billdesk.mail.catcher import serve

    try:
        serve(host=args.host, port=args.port, directory=Path(args.dir).resolve())
    except OSError as exc:
        raise CommandFailed(f"the mail catcher cannot listen on {args.host}:{args.port}: {exc}") from None


def cmd_telegram_poll(args: argparse.Namespace) -> None:
    import logging
    import signal

    from billdesk import telegram

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await telegram.poll(stop, wait_seconds=args.timeout)
        finally:
            await telegram.close_bots()

    print("Polling Telegram for updates; Ctrl-C stops.", flush=True)
    asyncio.run(_with_db(work))


def cmd_telegram_set_webhook(args: argparse.Namespace) -> None:
    from billdesk import telegram
    from billdesk.settings import get_settings

    settings = get_settings()
    if not settings.telegram_configured:
        raise CommandFailed("TELEGRAM_BOT_TOKEN is not set")
    if not settings.telegram_webhook_secret:
        raise CommandFailed("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would refuse every update")
    url = args.url or f"{settings.base_url}/telegram/webhook"

    async def work() -> None:
        try:
            await telegram.set_webhook(url, settings.telegram_webhook_secret or "")
        except Exception as exc:
            raise CommandFailed(f"Telegram refused the webhook: {exc}") from None
        finally:
            await telegram.close_bots()

    asyncio.run(work())
    print(f"Telegram will send the bot's updates to {url}.")


def cmd_telegram_dev_server(args: argparse.Namespace) -> None:
    check_port_free(getattr(args, "host", "127.0.0.1"), args.port)
    from billdesk.telegram.dev_server import serve

    serve(host="127.0.0.1", port=args.port, webhook_url=args.webhook_url,
          webhook_secret=args.webhook_secret)


def cmd_i18n_extract(_: argparse.Namespace) -> None:
    from billdesk.i18n.extract import POT_PATH, update

    incomplete = update()
    print(f"Wrote {POT_PATH} and merged it into each language's catalog.")
    for language in incomplete:
        print(f"{language}: some strings have no translation yet (billdesk i18n check lists them).")


def cmd_i18n_check(_: argparse.Namespace) -> None:
    from billdesk.i18n import LANGUAGES
    from billdesk.i18n.extract import missing_translations, stale_entries

    new, gone = stale_entries()
    problems = [f"not in the catalog: {msgid!r}" for msgid, _ctx in sorted(new)]
    problems += [f"in the catalog but in no source: {msgid!r}" for msgid, _ctx in sorted(gone)]
    for language in LANGUAGES:
        if language != "en":
            problems += [f"{language}: no translation of {m!r}" for m in missing_translations(language)]
    if problems:
        print("\n".join(problems))
        raise CommandFailed("the catalogs are out of date: run `billdesk i18n extract`, then translate")
    print("The catalogs are up to date and every language is complete.")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="billdesk", description="The billdesk support desk.")
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-worker", action="store_true",
        help="do not run the job worker in the app processes (run `billdesk worker` instead)",
    )
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run the job worker alone, until stopped")
    worker.add_argument(
        "--concurrency", type=int, default=None,
        help="jobs run at once (default BILLDESK_JOB_CONCURRENCY, 4)",
    )
    worker.set_defaults(run=cmd_worker)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(
        run=cmd_migrate
    )
    commands.add_parser("demo", help="load the demo data (idempotent)").set_defaults(run=cmd_demo)

    reconcile = commands.add_parser(
        "reconcile", help="settle charges left pending or requiring payment, from Stripe"
    )
    reconcile.add_argument(
        "--verify", action="store_true",
        help="instead, compare every PaymentIntent and refund in Stripe with billdesk's "
        "records and report the differences (exit 1 when there are any)",
    )
    reconcile.add_argument(
        "--days", type=int, default=35, help="with --verify: how far back to compare"
    )
    reconcile.set_defaults(run=cmd_reconcile)

    dev_server = commands.add_parser(
        "stripe-dev-server", help="serve a local Stripe-compatible test server (offline demo)"
    )
    dev_server.add_argument("--port", type=int, default=8420)
    dev_server.add_argument("--webhook-url", default=None)
    dev_server.add_argument("--webhook-secret", default=None)
    dev_server.set_defaults(run=cmd_stripe_dev_server)
    commands.add_parser(
        "demo-cards", help="save the demo customers' test cards (Alice's works, Bob's is declined) "
        "and leave a paid ticket and a refunded one for finance"
    ).set_defaults(run=cmd_demo_cards)

    mail_receive = commands.add_parser(
        "mail-receive",
        help="read one mail (RFC 5322) on stdin into billdesk, for an MTA pipe; exit 75 = retry",
    )
    mail_receive.add_argument(
        "--recipient", default=None,
        help="the envelope recipient, when the MTA passes it (e.g. Postfix's ${recipient})",
    )
    mail_receive.set_defaults(run=cmd_mail_receive)
    catcher = commands.add_parser(
        "mail-catcher", help="a local SMTP server that keeps every mail as a file (offline demo)"
    )
    catcher.add_argument("--host", default="127.0.0.1")
    catcher.add_argument("--port", type=int, default=8025)
    catcher.add_argument("--dir", default="var/caught-mail", help="where the caught mails go")
    catcher.set_defaults(run=cmd_mail_catcher)
    bot = commands.add_parser("telegram", help="the Telegram bot").add_subparsers(
        dest="action", required=True
    )
    poll = bot.add_parser("poll", help="take the bot's updates by long polling, until stopped")
    poll.add_argument("--timeout", type=int, default=30, help="seconds each getUpdates waits")
    poll.set_defaults(run=cmd_telegram_poll)
    set_webhook = bot.add_parser(
        "set-webhook", help="tell Telegram to send updates to BILLDESK_BASE_URL/telegram/webhook"
    )
    set_webhook.add_argument("--url", default=None, help="another address for the webhook")
    set_webhook.set_defaults(run=cmd_telegram_set_webhook)
    bot_dev = bot.add_parser(
        "dev-server", help="serve a local Bot API stand-in with a page to type as a customer"
    )
    bot_dev.add_argument("--port", type=int, default=8430)
    bot_dev.add_argument("--webhook-url", default=None)
    bot_dev.add_argument("--webhook-secret", default=None)
    bot_dev.set_defaults(run=cmd_telegram_dev_server)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = user.add_parser("create", help="create a user")
    create.add_argument("email")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["customer", "staff", "finance", "admin"])
    create.add_argument("--password", required=True)
    create.set_defaults(run=cmd_user_create)

    i18n = commands.add_parser("i18n", help="the translation catalogs").add_subparsers(
        dest="action", required=True
    )
    i18n.add_parser(
        "extract", help="collect the strings into messages.pot and merge it into each .po"
    ).set_defaults(run=cmd_i18n_extract)
    i18n.add_parser(
        "check", help="fail when a catalog is out of date or a translation is missing"
    ).set_defaults(run=cmd_i18n_check)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    token_create = token.add_parser("create", help="create an API token (printed once)")
    token_create.add_argument("email")
    token_create.add_argument("--name", default="")
    token_create.add_argument(
        "--read-only", action="store_true", help="the token may only read (GET)"
    )
    token_create.set_defaults(run=cmd_token_create)
    token_revoke = token.add_parser("revoke", help="revoke an API token")
    token_revoke.add_argument("id", type=int)
    token_revoke.set_defaults(run=cmd_token_revoke)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandFailed, ValueError) as exc:
        print(f"billdesk: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except DeskError as exc:
        print(f"billdesk: {exc.detail}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"billdesk: {port_in_use(getattr(args, 'port', None))}", file=sys.stderr)
        else:
            print(f"billdesk: cannot reach the database: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def port_in_use(port: int | None) -> str:
    return (
        f"port {port if port else '(the one asked for)'} is already in use: stop what runs there, "
        "or choose another port (make run PORT=8001, billdesk serve --port 8001)."
    )


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when something already listens on the port, saying so plainly
    (uvicorn would log a bare errno and exit)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandFailed(port_in_use(port)) from None
            raise


if __name__ == "__main__":
    main()
