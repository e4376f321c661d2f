"""create_app(): the one place where the Litestar app is wired."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from litestar import Litestar
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from billdesk import jobs
from billdesk.db import DB
from billdesk.db_postgres import OneConnectionPerRequest
from billdesk.i18n import jinja as i18n_jinja
from billdesk.payments import stripe_api
from billdesk.settings import get_settings, resource_dir
from billdesk.telegram import close_bots, warm_up
from billdesk.web.account import AccountController
from billdesk.web.account_mail import MailPreferencesApiController, MailPreferencesController
from billdesk.web.admin import AdminController
from billdesk.web.admin_jobs import AdminJobsController
from billdesk.web.admin_mail import AdminMailController
from billdesk.web.admin_sla import AdminServiceLevelController
from billdesk.web.admin_tags import AdminTagsApiController, AdminTagsController
from billdesk.web.admin_webhooks import AdminWebhooksApiController, AdminWebhooksController
from billdesk.web.api.admin import AdminApiController
from billdesk.web.api.admin_jobs import AdminJobsApiController
from billdesk.web.api.admin_mail import AdminMailApiController
from billdesk.web.api.customer import CustomerApiController, PersonalApiController
from billdesk.web.api.desk import DeskApiController
from billdesk.web.api.finance import FinanceApiController
from billdesk.web.api.integration import IntegrationApiController
from billdesk.web.api.me import MeController
from billdesk.web.api.payments import PaymentsApiController
from billdesk.web.audit import AuditApiController, AuditController
from billdesk.web.client import ClientController, PersonalController
from billdesk.web.csrf import SessionBoundCsrf
from billdesk.web.desk import DeskController
from billdesk.web.errors import handle_exception
from billdesk.web.finance import FinanceController
from billdesk.web.guard import InputGuard
from billdesk.web.headers import add_security_headers
from billdesk.web.health import favicon, healthz
from billdesk.web.language import LanguageController
from billdesk.web.layout import install_filters
from billdesk.web.login_links import LoginLinkController
from billdesk.web.middleware import AuthMiddleware
from billdesk.web.openapi import SwaggerPage, complete_on_startup
from billdesk.web.passwords import PasswordController
from billdesk.web.payments import PaymentsController
from billdesk.web.reports import ReportsApiController, ReportsController
from billdesk.web.security import SecurityController
from billdesk.web.telegram import TelegramApiController, TelegramPagesController, telegram_webhook
from billdesk.web.time_zone import TimeZoneController
from billdesk.web.webhooks import stripe_webhook

# Five attachments of 5 MB and a message, with room for the multipart framing.
MAX_BODY = 30 * 1024 * 1024


async def _open_pool() -> None:
    settings = get_settings()
    if settings.is_postgres:
        # One connection at start; more as requests need them, up to the setting. A
        # connection goes back without asyncpg's reset statements (RESET ALL, UNLISTEN *,
        # …), a round trip per query: billdesk keeps no session state on a connection.
        await DB.start_connection_pool(  # type: ignore[call-arg]
            min_size=1, max_size=settings.db_pool_size, reset=_no_reset
        )


async def _no_reset(connection: Any) -> None:
    """A pooled connection is given back as it is (see _open_pool), except one left inside
    a transaction (a request cancelled half-way), which is rolled back first."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


async def _close_pool() -> None:
    if get_settings().is_postgres:
        await DB.close_connection_pool()
    else:
        await DB.close_connections()  # type: ignore[union-attr]


def _install_template_helpers(engine: JinjaTemplateEngine, *, debug: bool = False) -> None:
    i18n_jinja.install(engine.engine)
    install_filters(engine)
    # A template is read once per process: without this Jinja checks each template's file
    # on disk every time a page extends, includes or imports it. In debug an edit shows at once.
    engine.engine.auto_reload = debug


def route_handlers() -> list:
    """Every controller of every area, listed once."""
    return [
        healthz,
        favicon,
        stripe_webhook,
        telegram_webhook,
        TelegramApiController,
        TelegramPagesController,
        PaymentsController,
        PaymentsApiController,
        FinanceApiController,
        AccountController,
        LanguageController,
        TimeZoneController,
        ClientController,
        PersonalController,
        DeskController,
        FinanceController,
        AdminController,
        AdminJobsController,
        AdminServiceLevelController,
        AdminTagsController,
        AdminTagsApiController,
        MeController,
        CustomerApiController,
        PersonalApiController,
        DeskApiController,
        ReportsController,
        ReportsApiController,
        AdminApiController,
        AdminJobsApiController,
        # Mail and passwords (docs/mail.md).
        PasswordController,
        MailPreferencesController,
        MailPreferencesApiController,
        AdminMailController,
        AdminMailApiController,
        # Two-factor sign-in, sessions and the audit log (docs/security.md).
        SecurityController,
        AuditController,
        AuditApiController,
        # Beside the billing system (docs/integration.md).
        IntegrationApiController,
        LoginLinkController,
        AdminWebhooksController,
        AdminWebhooksApiController,
        create_static_files_router(path="/static", directories=[resource_dir("static")]),
    ]


def create_app(*, debug: bool = False, pooled: bool = True, worker: bool | None = None) -> Litestar:
    """The app. `pooled=False` opens a connection per query, for callers that share
    their event loop with other database users (the test suite). `worker` runs the
    job worker in the app's process, started and stopped with the app; by default
    when BILLDESK_WORKER_IN_APP is on (`billdesk serve --no-worker` turns it off)."""
    settings = get_settings()
    # The handlers' attempt limits show on /admin/jobs even where no worker runs.
    jobs.load_handler_modules()
    on_startup: list = [complete_on_startup, *([_open_pool] if pooled else [])]
    on_shutdown: list = [_close_pool] if pooled else []
    on_startup.append(warm_up)
    on_shutdown.insert(0, close_bots)
    on_shutdown.insert(0, stripe_api.close)
    if settings.job_worker_in_app if worker is None else worker:
        in_app = jobs.InAppWorker()
        on_startup.append(in_app.start)
        on_shutdown.insert(0, in_app.stop)
    return Litestar(
        route_handlers=route_handlers(),
        middleware=[
            OneConnectionPerRequest(DB),
            AuthMiddleware(),
            InputGuard(),
            SessionBoundCsrf(secret=settings.secret_key, secure=settings.secure_cookies),
        ],
        template_config=TemplateConfig(
            directory=resource_dir("templates"),
            engine=JinjaTemplateEngine,
            engine_callback=partial(_install_template_helpers, debug=debug),
        ),
        openapi_config=OpenAPIConfig(
            title="billdesk",
            version="1",
            path="/api/docs",
            render_plugins=[SwaggerPage.offline()],
            use_handler_docstrings=True,
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"bearer": []}],
        ),
        exception_handlers={Exception: handle_exception},
        before_send=[add_security_headers],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        request_max_body_size=MAX_BODY,
        logging_config=LoggingConfig(
            loggers={
                # Not propagated: the root logger has the same handler, which printed each line twice.
                "billdesk": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False},
                # The SDK's two lines per call ("Request to Stripe api", "Stripe API response"):
                # billdesk logs what the payments came to. STRIPE_LOG=info prints them again.
                "stripe": {"level": "WARNING"},
            },
            log_exceptions="never",
        ),
        debug=debug,
    )


logging.getLogger("billdesk").setLevel(logging.INFO)
