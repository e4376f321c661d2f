"""The log-in throttle: atomic across processes, by (account, address) first, and a
success that clears only what it should."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest

from billdesk import login_throttle
from billdesk.auth import LoginRefused, authenticate
from billdesk.errors import RateLimited
from billdesk.login_throttle import limits
from tests.factories import PASSWORD, make_user

ATTACKER = "203.0.113.7"
OWNER_HOME = "198.51.100.20"


async def _fail(email: str, ip: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(LoginRefused):
            await authenticate(email=email, password="not the password", ip=ip)


async def test_parallel_wrong_passwords_check_at_most_the_limit(live_server):
    """Sixty wrong passwords sent at once to two worker processes: only the limit is checked."""
    user = await make_user()
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as browser:
        page = await browser.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)

        async def attempt() -> int:
            answer = await browser.post(
                "/login",
                data={"email": user.email, "password": "wrong", "_csrf_token": token},
            )
            return answer.status_code

        statuses = await asyncio.gather(*(attempt() for _ in range(60)))
    assert statuses.count(401) == limits().pair, statuses
    assert statuses.count(429) == 60 - limits().pair


async def test_an_attacker_on_one_address_does_not_lock_the_owner_out_elsewhere():
    user = await make_user()
    await _fail(user.email, ATTACKER, limits().pair)
    with pytest.raises(RateLimited) as refused:
        await authenticate(email=user.email, password=PASSWORD, ip=ATTACKER)
    assert "from your address" in refused.value.detail
    assert (await authenticate(email=user.email, password=PASSWORD, ip=OWNER_HOME)).id == user.id


async def test_logging_in_to_ones_own_account_keeps_the_address_counter():
    own = await make_user()
    for n in range(limits().address - 2):  # failed attempts, straight into the counters
        await login_throttle.begin(email=f"victim{n}@example.test", ip=ATTACKER)
    await _fail("victim@example.test", ATTACKER, 1)
    await authenticate(email=own.email, password=PASSWORD, ip=ATTACKER)
    await _fail("one-more@example.test", ATTACKER, 1)
    with pytest.raises(RateLimited):
        await authenticate(email=own.email, password=PASSWORD, ip=ATTACKER)


async def test_failures_from_many_addresses_lock_the_account_for_everyone():
    user = await make_user()
    for n in range(limits().account):
        await login_throttle.begin(email=user.email, ip=f"10.0.{n // 250}.{n % 250}")
    with pytest.raises(RateLimited) as refused:
        await authenticate(email=user.email, password=PASSWORD, ip=OWNER_HOME)
    assert "for this account" in refused.value.detail


async def test_counters_start_again_after_the_window(clock):
    user = await make_user()
    await _fail(user.email, ATTACKER, limits().pair)
    with pytest.raises(RateLimited):
        await authenticate(email=user.email, password=PASSWORD, ip=ATTACKER)
    clock.advance(limits().window + timedelta(seconds=1))
    assert (await authenticate(email=user.email, password=PASSWORD, ip=ATTACKER)).id == user.id


async def test_the_hourly_purge_forgets_only_counters_whose_window_ended_long_ago(clock):
    from billdesk.tables import LoginThrottle

    old, recent = await make_user(), await make_user()
    await _fail(old.email, ATTACKER, 2)
    counted = await LoginThrottle.count()
    clock.advance(2 * limits().window + timedelta(seconds=1))
    await _fail(recent.email, OWNER_HOME, 1)

    assert await login_throttle.purge_expired() == counted
    assert await LoginThrottle.count() == 3  # the recent attempt's pair, address and account
