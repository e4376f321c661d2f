"""The log-in throttle: attempts counted in the database, per (account, address),
per address and per account, each with its own limit in a window of time.

An attempt takes its place in the three counters *before* the password is
checked, each with a conditional `UPDATE … SET attempts = attempts + 1 WHERE
attempts < limit` (the quota counter's pattern), all in one transaction: any
number of attempts sent at the same moment, to any number of processes, get at
most `limit` password checks. A right password gives its places back and clears
the (account, address) counter, never the address's or the account's: logging
in to one's own account does not wipe the failures an address piled up on
others, and one owner's success does not wipe a spread-out attack on them.

The (account, address) pair has the lowest limit, so one attacker guessing from
one address is stopped there while the owner, elsewhere, still logs in; the
account alone is locked only by failures from many addresses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from billdesk import clock
from billdesk.db import write_transaction
from billdesk.errors import RateLimited
from billdesk.i18n import tr, tr_n
from billdesk.settings import get_settings
from billdesk.tables import LoginThrottle

PAIR = "pair"
ADDRESS = "address"
ACCOUNT = "account"


@dataclass(frozen=True)
class Limits:
    pair: int
    address: int
    account: int
    window: timedelta


def limits() -> Limits:
    """The limits in force (settings BILLDESK_LOGIN_LIMIT_* and BILLDESK_LOGIN_WINDOW_MINUTES)."""
    settings = get_settings()
    return Limits(
        pair=settings.login_limit_pair,
        address=settings.login_limit_address,
        account=settings.login_limit_account,
        window=timedelta(minutes=settings.login_window_minutes),
    )


@dataclass(frozen=True)
class Attempt:
    """The counters one attempt holds a place in, in lock order."""

    keys: tuple[tuple[str, str, int], ...]  # (kind, key, limit)

    def key(self, kind: str) -> str:
        return next(key for k, key, _ in self.keys if k == kind)


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def attempt_for(*, email: str, ip: str) -> Attempt:
    """The counters of an attempt on `email` from `ip` (the email normalised by the caller)."""
    current = limits()
    return Attempt(
        keys=(
            (PAIR, _key(PAIR, f"{email}\n{ip}"), current.pair),
            (ADDRESS, _key(ADDRESS, ip), current.address),
            (ACCOUNT, _key(ACCOUNT, email), current.account),
        )
    )


MESSAGES = {
    PAIR: tr("Too many failed log-in attempts for this account from your address."),
    ADDRESS: tr("Too many failed log-in attempts from your address."),
    ACCOUNT: tr("Too many failed log-in attempts for this account."),
}


async def begin(*, email: str, ip: str) -> Attempt:
    """Take this attempt's place in its three counters, or raise RateLimited with nothing taken.

    The counters are always locked in the same order (pair, address, account),
    so concurrent attempts never deadlock.
    """
    attempt = attempt_for(email=email, ip=ip)
    now = clock.now()
    started_before = now - limits().window
    async with write_transaction():
        for kind, key, limit in attempt.keys:
            await LoginThrottle.insert(
                LoginThrottle(key=key, attempts=0, window_started_at=now)
            ).on_conflict(target=LoginThrottle.key, action="DO NOTHING")
            await LoginThrottle.update(
                {LoginThrottle.attempts: 0, LoginThrottle.window_started_at: now}
            ).where((LoginThrottle.key == key) & (LoginThrottle.window_started_at <= started_before))
            taken = await (
                LoginThrottle.update({LoginThrottle.attempts: LoginThrottle.attempts + 1})
                .where((LoginThrottle.key == key) & (LoginThrottle.attempts < limit))
                .returning(LoginThrottle.id)
            )
            if not taken:
                minutes = int(limits().window.total_seconds() // 60)
                # Raising inside the transaction gives back the places taken so far.
                raise RateLimited(
                    tr_n(
                        "%(refusal)s Wait %(num)s minute and try again.",
                        "%(refusal)s Wait %(num)s minutes and try again.",
                        minutes,
                        refusal=MESSAGES[kind],
                    ),
                    errors={"email": MESSAGES[kind]},
                )
    return attempt


async def succeeded(attempt: Attempt) -> None:
    """The password was right: give the places back and clear the (account, address) counter."""
    async with write_transaction():
        await LoginThrottle.update({LoginThrottle.attempts: 0}).where(
            LoginThrottle.key == attempt.key(PAIR)
        )
        await LoginThrottle.update({LoginThrottle.attempts: LoginThrottle.attempts - 1}).where(
            LoginThrottle.key.is_in([attempt.key(ADDRESS), attempt.key(ACCOUNT)])
            & (LoginThrottle.attempts > 0)
        )


async def purge_expired() -> int:
    """Delete counters whose window ended long ago; how many went.

    Rows a log-in holds right now are skipped (SKIP LOCKED on PostgreSQL), so the
    purge never waits on, or deadlocks with, an attempt being counted.
    """
    cutoff = clock.now() - 2 * limits().window
    if get_settings().is_postgres:
        rows = await LoginThrottle.raw(
            "DELETE FROM login_throttles WHERE id IN (SELECT id FROM login_throttles "
            "WHERE window_started_at < {} FOR UPDATE SKIP LOCKED) RETURNING id",
            cutoff,
        )
        return len(rows)
    async with write_transaction():
        rows = await LoginThrottle.delete().where(
            LoginThrottle.window_started_at < cutoff
        ).returning(LoginThrottle.id)
    return len(rows)
