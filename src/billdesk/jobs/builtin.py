"""The periodic jobs billdesk always runs."""

from __future__ import annotations

from datetime import timedelta

from billdesk import clock
from billdesk.jobs.registry import periodic
from billdesk.jobs.store import prune_succeeded
from billdesk.settings import get_settings


@periodic("payments.reconcile", every=timedelta(minutes=get_settings().reconcile_minutes))
async def reconcile_payments() -> None:
    """Settle charges and refunds left pending (docs/payments.md); nothing when
    payments are not configured. Charges Stripe could not tell about fail the run."""
    if not get_settings().payments_configured:
        return
    from billdesk.payments import reconcile

    report = await reconcile()
    if report.errors:
        raise RuntimeError("; ".join(report.errors))


@periodic("jobs.prune", every=timedelta(hours=1))
async def prune_old_jobs() -> None:
    """Delete succeeded jobs older than BILLDESK_JOB_KEEP_DAYS; failed ones stay."""
    keep = timedelta(days=get_settings().job_keep_days)
    await prune_succeeded(older_than=clock.now() - keep)


@periodic("auth.purge_login_throttle", every=timedelta(hours=1))
async def purge_login_throttle() -> None:
    """Forget log-in counters whose window ended (they would only grow the table)."""
    from billdesk.login_throttle import purge_expired

    await purge_expired()


@periodic("desk.forget_viewers", every=timedelta(hours=1))
async def forget_viewers() -> None:
    """Forget who had a ticket open more than an hour ago (presence only needs seconds)."""
    from billdesk.presence import forget_old_viewers

    await forget_old_viewers()


@periodic("auth.purge_sessions", every=timedelta(hours=1))
async def purge_sessions() -> None:
    """Forget sessions past their absolute or idle end (they could never be used again)."""
    from billdesk.sessions import purge_expired

    await purge_expired()
