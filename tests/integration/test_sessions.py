"""Sessions a person can see and end, idle and absolute expiry, read-only API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

from billdesk import sessions
from billdesk.tables import ApiToken
from tests.factories import csrf_token, login, make_token, make_user
from tests.trust_support import entries

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


async def test_the_account_page_lists_sessions_and_revoking_one_signs_that_browser_out(
    client, app_client_factory, clock
):
    customer = await make_user()
    client.headers["user-agent"] = FIREFOX
    await login(client, customer.email)
    async with app_client_factory() as phone:
        phone.headers["user-agent"] = IPHONE
        await login(phone, customer.email)
        clock.advance(timedelta(minutes=5))
        assert (await phone.get("/tickets")).status_code == 200  # moves its last-seen time

        page = await client.get("/account")
        table = page.text[page.text.index("data-sessions") :]
        assert "Firefox on Linux" in table and "(this browser)" in table
        assert "Safari on iPhone" in table and "09:05" in table
        [phone_id] = [
            s["id"] for s in await sessions.active_sessions(customer.id) if "iPhone" in s["device"]
        ]
        revoked = await client.post(
            f"/account/sessions/{phone_id}/revoke", data={"_csrf_token": csrf_token(page.text)}
        )
        assert revoked.status_code == 302
        # The phone is signed out on its next request; this browser is not.
        gone = await phone.get("/tickets")
        assert gone.status_code == 302 and gone.headers["location"].startswith("/login")
        assert (await client.get("/tickets")).status_code == 200
    [entry] = await entries("session.revoked")
    assert entry["before"]["device"] == "Safari on iPhone" and entry["actor_id"] == customer.id


async def test_someone_elses_session_cannot_be_revoked(client, app_client_factory):
    customer = await make_user()
    other = await make_user()
    async with app_client_factory() as theirs:
        await login(theirs, other.email)
        [their_session] = await sessions.active_sessions(other.id)
        await login(client, customer.email)
        page = await client.get("/account")
        answer = await client.post(
            f"/account/sessions/{their_session['id']}/revoke",
            data={"_csrf_token": csrf_token(page.text)},
        )
        assert answer.status_code == 404
        assert (await theirs.get("/tickets")).status_code == 200


async def test_sign_out_everywhere_else_keeps_the_current_session(client, app_client_factory):
    agent = await make_user(role="staff")
    await login(client, agent.email)
    async with app_client_factory() as second, app_client_factory() as third:
        await login(second, agent.email)
        await login(third, agent.email)
        page = await client.get("/account")
        answer = await client.post(
            "/account/sessions/revoke-others", data={"_csrf_token": csrf_token(page.text)}
        )
        assert answer.status_code in (302, 303)
        assert "2 sessions ended" in (await client.get(answer.headers["location"])).text
        assert (await second.get("/desk")).status_code == 302
        assert (await third.get("/desk")).status_code == 302
        assert (await client.get("/desk")).status_code == 200
    [entry] = await entries("sessions.revoked_others")
    assert entry["after"] == {"ended": 2}


async def test_a_session_ends_after_idle_time(client, clock):
    customer = await make_user()
    await login(client, customer.email)
    idle = sessions.idle_limit()
    clock.advance(idle - timedelta(minutes=2))
    assert (await client.get("/tickets")).status_code == 200  # seen: the idle time starts again
    clock.advance(idle - timedelta(minutes=2))
    assert (await client.get("/tickets")).status_code == 200
    clock.advance(idle + timedelta(minutes=1))
    assert (await client.get("/tickets")).status_code == 302


async def test_a_session_ends_at_its_absolute_time_however_busy(client, clock, monkeypatch):
    customer = await make_user()
    await login(client, customer.email)
    # Seen every few hours, never idle for long, still ends after BILLDESK_SESSION_DAYS.
    step = timedelta(hours=6)
    elapsed = timedelta()
    while elapsed + step < sessions.absolute_limit():
        clock.advance(step)
        elapsed += step
        assert (await client.get("/tickets")).status_code == 200, elapsed
    clock.advance(step)
    assert (await client.get("/tickets")).status_code == 302
    assert await sessions.purge_expired() == 1


async def test_read_only_tokens_read_and_nothing_else(client):
    customer = await make_user()
    await login(client, customer.email)
    page = await client.get("/account")
    created = await client.post(
        "/account/tokens",
        data={"name": "monitoring", "read_only": "1", "_csrf_token": csrf_token(page.text)},
    )
    secret = re.search(r"data-new-token>([^<]+)<", created.text).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/tickets", headers=headers)).status_code == 200
    refused = await client.post("/api/v1/notifications/read", headers=headers, json={})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    [entry] = await entries("token.created")
    assert entry["after"]["read_only"] is True and entry["actor_id"] == customer.id
    # A full token still writes; the account page shows when each was last used.
    full = await make_token(customer)
    assert (
        await client.post(
            "/api/v1/notifications/read", headers={"Authorization": f"Bearer {full}"}, json={}
        )
    ).status_code in (200, 201, 204)
    page = await client.get("/account")
    assert (
        "Read-only" in page.text
        and "Never" not in page.text.split("monitoring")[1].split("</tr>")[0]
    )


async def test_revoking_a_token_is_audited_once(client):
    customer = await make_user()
    secret = await make_token(customer)
    [token] = await ApiToken.select(ApiToken.id).where(ApiToken.user == customer.id)
    await login(client, customer.email)
    page = await client.get("/account")
    await client.post(
        f"/account/tokens/{token['id']}/revoke", data={"_csrf_token": csrf_token(page.text)}
    )
    await client.post(
        f"/account/tokens/{token['id']}/revoke", data={"_csrf_token": csrf_token(page.text)}
    )
    [entry] = await entries("token.revoked")
    assert (entry["target_id"], entry["after"]) == (token["id"], {"revoked": True})
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401


async def test_the_api_lists_and_ends_sessions_and_lists_tokens(client, app_client_factory):
    customer = await make_user()
    secret = await make_token(customer)
    headers = {"Authorization": f"Bearer {secret}"}
    async with app_client_factory() as browser:
        browser.headers["user-agent"] = FIREFOX
        await login(browser, customer.email)
        [listed] = (await client.get("/api/v1/me/sessions", headers=headers)).json()["items"]
        assert listed["device"] == "Firefox on Linux" and listed["last_seen_at"].endswith("Z")
        ended = await client.delete(f"/api/v1/me/sessions/{listed['id']}", headers=headers)
        assert ended.status_code == 204
        assert (await browser.get("/tickets")).status_code == 302
    tokens = (await client.get("/api/v1/me/tokens", headers=headers)).json()["items"]
    assert [(t["read_only"], t["revoked_at"]) for t in tokens] == [(False, None)]
    assert "token_hash" not in tokens[0]
    assert (await client.get("/api/v1/me/two-factor", headers=headers)).json() == {
        "enabled": False,
        "recovery_codes_left": 0,
    }
