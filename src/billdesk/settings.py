"""Settings read from the environment, once per process."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout keeps templates/, static/ and migrations/ at the top of the
# repository; an installed wheel carries them inside the package.
SOURCE_ROOT = PACKAGE_DIR.parent.parent


def resource_dir(name: str) -> Path:
    """The folder `name` (templates, static, migrations), installed or in a checkout."""
    packaged = PACKAGE_DIR / name
    if packaged.is_dir():
        return packaged
    return SOURCE_ROOT / name


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: str
    base_url: str
    upload_dir: Path
    stripe_secret_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None
    session_days: int = 14
    session_idle_minutes: int = 480
    # Database connections and the access log (docs/performance.md).
    db_pool_size: int = 10
    sqlite_busy_timeout: float = 5.0
    sqlite_readers: int = 4
    access_log: bool = False
    login_limit_pair: int = 10
    login_limit_address: int = 50
    login_limit_account: int = 100
    login_window_minutes: int = 15
    # Durable jobs (docs/jobs.md).
    job_worker_in_app: bool = True
    job_poll_seconds: float = 1.0
    job_max_attempts: int = 10
    job_concurrency: int = 4
    job_keep_days: int = 7
    job_modules: tuple[str, ...] = ()
    reconcile_minutes: int = 10
    # How often an open desk page asks whether its queue changed (docs/desk.md).
    live_queue_seconds: float = 10.0
    # Mail (docs/mail.md).
    smtp_url: str | None = None
    mail_from: str = "billdesk <billdesk@localhost>"
    mail_reply_to: str | None = None
    mail_department: str | None = None
    imap_url: str | None = None
    imap_poll_seconds: int = 60
    mail_catcher_dir: Path | None = None
    # The Telegram bot (docs/telegram.md): on when a token is set.
    telegram_bot_token: str | None = None
    telegram_api_base: str | None = None
    telegram_webhook_secret: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def payments_configured(self) -> bool:
        return bool(self.stripe_secret_key)

    @property
    def telegram_configured(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def payments_test_mode(self) -> bool:
        """Payments go to a local Stripe-compatible server, not to Stripe."""
        return self.payments_configured and bool(self.stripe_api_base)


def _secret_key(data_dir: Path) -> str:
    configured = os.environ.get("BILLDESK_SECRET_KEY")
    if configured:
        return configured
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two workers start together, one writes and both read the same key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _number(name: str, default: float, *, minimum: float, kind: type = int) -> Any:
    """A number from the environment, or a ValueError naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {raw}")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0, not {raw!r}")


def _telegram(name: str, pattern: str, shape: str) -> str | None:
    """A Telegram setting, or a ValueError naming it (never echoing a secret)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(pattern, raw):
        raise ValueError(f"{name} must be {shape}")
    return raw


def load_settings() -> Settings:
    """Read the settings from the environment (no caching)."""
    data_dir = Path(os.environ.get("BILLDESK_DATA_DIR", "var")).resolve()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'billdesk.sqlite3'}"
    upload_dir = Path(os.environ.get("BILLDESK_UPLOAD_DIR") or data_dir / "uploads").resolve()
    return _check_mail(Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=_secret_key(data_dir),
        base_url=os.environ.get("BILLDESK_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        upload_dir=upload_dir,
        stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
        stripe_webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
        session_days=_number("BILLDESK_SESSION_DAYS", 14, minimum=1),
        session_idle_minutes=_number("BILLDESK_SESSION_IDLE_MINUTES", 480, minimum=5),
        db_pool_size=_number("BILLDESK_DB_POOL_SIZE", 10, minimum=1),
        sqlite_busy_timeout=_number("BILLDESK_SQLITE_BUSY_TIMEOUT", 5.0, minimum=0.1, kind=float),
        sqlite_readers=_number("BILLDESK_SQLITE_READERS", 4, minimum=1),
        access_log=_flag("BILLDESK_ACCESS_LOG", False),
        login_limit_pair=_number("BILLDESK_LOGIN_LIMIT_PAIR", 10, minimum=1),
        login_limit_address=_number("BILLDESK_LOGIN_LIMIT_ADDRESS", 50, minimum=1),
        login_limit_account=_number("BILLDESK_LOGIN_LIMIT_ACCOUNT", 100, minimum=1),
        login_window_minutes=_number("BILLDESK_LOGIN_WINDOW_MINUTES", 15, minimum=1),
        job_worker_in_app=_flag("BILLDESK_WORKER_IN_APP", True),
        job_poll_seconds=_number("BILLDESK_JOB_POLL_SECONDS", 1.0, minimum=0.05, kind=float),
        job_max_attempts=_number("BILLDESK_JOB_MAX_ATTEMPTS", 10, minimum=1),
        job_concurrency=_number("BILLDESK_JOB_CONCURRENCY", 4, minimum=1),
        job_keep_days=_number("BILLDESK_JOB_KEEP_DAYS", 7, minimum=1),
        job_modules=tuple(
            name.strip()
            for name in os.environ.get("BILLDESK_JOB_MODULES", "").split(",")
            if name.strip()
        ),
        reconcile_minutes=_number("BILLDESK_RECONCILE_MINUTES", 10, minimum=1),
        live_queue_seconds=_number(
            "BILLDESK_LIVE_QUEUE_SECONDS", 10.0, minimum=0.5, kind=float
        ),
        telegram_bot_token=_telegram(
            "TELEGRAM_BOT_TOKEN", r"[0-9]+:[A-Za-z0-9_-]+", "a bot token such as 123456:ABC-def"
        ),
        telegram_api_base=(os.environ.get("TELEGRAM_API_BASE") or "").strip().rstrip("/") or None,
        telegram_webhook_secret=_telegram(
            "TELEGRAM_WEBHOOK_SECRET", r"[A-Za-z0-9_-]{1,256}",
            "1 to 256 characters: letters, digits, _ and -",
        ),
        smtp_url=os.environ.get("BILLDESK_SMTP_URL", "").strip() or None,
        mail_from=os.environ.get("BILLDESK_MAIL_FROM", "").strip() or "billdesk <billdesk@localhost>",
        mail_reply_to=os.environ.get("BILLDESK_MAIL_REPLY_TO", "").strip() or None,
        mail_department=os.environ.get("BILLDESK_MAIL_DEPARTMENT", "").strip() or None,
        imap_url=os.environ.get("BILLDESK_IMAP_URL", "").strip() or None,
        imap_poll_seconds=_number("BILLDESK_IMAP_POLL_SECONDS", 60, minimum=5),
        mail_catcher_dir=(
            Path(os.environ["BILLDESK_MAIL_CATCHER_DIR"]).resolve()
            if os.environ.get("BILLDESK_MAIL_CATCHER_DIR", "").strip()
            else None
        ),
    ))


def _check_mail(settings: Settings) -> Settings:
    """A mistyped mail server URL stops the process at start, naming the variable."""
    from billdesk.mail.urls import parse_imap_url, parse_smtp_url

    if settings.smtp_url:
        parse_smtp_url(settings.smtp_url)
    if settings.imap_url:
        parse_imap_url(settings.imap_url)
    if "@" not in settings.mail_from:
        raise ValueError("BILLDESK_MAIL_FROM must hold an address, like Support <support@example.com>")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
