"""Settings come from the environment; the secret key is never a fixed default."""

from __future__ import annotations

import pytest
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from billdesk.db import engine_for
from billdesk.settings import load_settings


def test_secret_key_is_generated_once_into_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("BILLDESK_SECRET_KEY", raising=False)
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = load_settings()
    second = load_settings()
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").read_text() == first.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0

    other = tmp_path / "other"
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(other))
    assert load_settings().secret_key != first.secret_key


def test_default_database_is_sqlite_under_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'billdesk.sqlite3'}"
    assert not settings.is_postgres
    assert isinstance(engine_for(settings.database_url), SQLiteEngine)


def test_postgres_url_selects_postgres(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/billdesk")
    settings = load_settings()
    assert settings.is_postgres
    assert isinstance(engine_for(settings.database_url), PostgresEngine)


def test_payments_mode_follows_the_stripe_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    assert not load_settings().payments_configured
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    assert load_settings().payments_configured and not load_settings().payments_test_mode
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:8420")
    assert load_settings().payments_test_mode


def test_unknown_database_scheme_is_refused():
    import pytest

    with pytest.raises(ValueError, match="DATABASE_URL"):
        engine_for("mysql://x")


def test_job_settings_have_defaults_and_name_the_variable_they_refuse(monkeypatch, tmp_path):
    import pytest

    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    for name in (
        "BILLDESK_WORKER_IN_APP", "BILLDESK_JOB_POLL_SECONDS", "BILLDESK_JOB_MAX_ATTEMPTS",
        "BILLDESK_JOB_CONCURRENCY", "BILLDESK_JOB_KEEP_DAYS", "BILLDESK_JOB_MODULES",
        "BILLDESK_RECONCILE_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (
        settings.job_worker_in_app, settings.job_poll_seconds, settings.job_max_attempts,
        settings.job_concurrency, settings.job_keep_days, settings.job_modules,
        settings.reconcile_minutes,
    ) == (True, 1.0, 10, 4, 7, (), 10)

    monkeypatch.setenv("BILLDESK_JOB_MODULES", " shop.jobs , ,billing.jobs ")
    monkeypatch.setenv("BILLDESK_JOB_POLL_SECONDS", "0.5")
    assert load_settings().job_modules == ("shop.jobs", "billing.jobs")
    assert load_settings().job_poll_seconds == 0.5

    for name, value in [
        ("BILLDESK_JOB_MAX_ATTEMPTS", "0"), ("BILLDESK_JOB_MAX_ATTEMPTS", "ten"),
        ("BILLDESK_RECONCILE_MINUTES", "-5"), ("BILLDESK_WORKER_IN_APP", "maybe"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            load_settings()
        monkeypatch.delenv(name)


def test_mail_settings_have_defaults_and_a_bad_server_url_stops_the_start(monkeypatch, tmp_path):
    import pytest

    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    for name in (
        "BILLDESK_SMTP_URL", "BILLDESK_MAIL_FROM", "BILLDESK_MAIL_REPLY_TO", "BILLDESK_IMAP_URL",
        "BILLDESK_IMAP_POLL_SECONDS", "BILLDESK_MAIL_DEPARTMENT", "BILLDESK_MAIL_CATCHER_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.smtp_url, settings.mail_from, settings.imap_url, settings.imap_poll_seconds,
            settings.mail_catcher_dir) == (None, "billdesk <billdesk@localhost>", None, 60, None)
    for name, value in [
        ("BILLDESK_SMTP_URL", "mail.example.com:587"),
        ("BILLDESK_SMTP_URL", "smtp://host?starttls=perhaps"),
        ("BILLDESK_IMAP_URL", "imaps://host/INBOX"),
        ("BILLDESK_MAIL_FROM", "Support"),
        ("BILLDESK_IMAP_POLL_SECONDS", "1"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            load_settings()
        monkeypatch.delenv(name)


def test_telegram_settings_turn_the_bot_on_and_name_what_they_refuse(monkeypatch, tmp_path):
    import pytest

    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert not load_settings().telegram_configured

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:AbC-dEf_9")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8430/")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret_value-1")
    settings = load_settings()
    assert settings.telegram_configured
    assert settings.telegram_api_base == "http://127.0.0.1:8430"
    assert settings.telegram_webhook_secret == "s3cret_value-1"

    for name, value in [
        ("TELEGRAM_BOT_TOKEN", "not a token"), ("TELEGRAM_WEBHOOK_SECRET", "has spaces in it"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name) as refused:
            load_settings()
        assert value not in str(refused.value)  # a secret is never echoed
        monkeypatch.delenv(name)


def test_pool_size_and_access_log_are_read_and_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BILLDESK_DB_POOL_SIZE", "4")
    monkeypatch.setenv("BILLDESK_ACCESS_LOG", "1")
    settings = load_settings()
    assert (settings.db_pool_size, settings.access_log) == (4, True)
    monkeypatch.setenv("BILLDESK_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="BILLDESK_DB_POOL_SIZE"):
        load_settings()
