"""Two-factor sign-in with an authenticator app, on a clock the test holds."""

from __future__ import annotations

import re

import pyotp
import pytest

from billdesk import passwords, two_factor
from billdesk.errors import ValidationFailed
from billdesk.tables import RecoveryCode, User
from tests.factories import PASSWORD, as_current, csrf_token, login, make_user
from tests.trust_support import STEP, code_now, enable_two_factor, entries, send_code


async def test_enrol_on_the_account_page_then_each_sign_in_asks_for_a_code(client, clock):
    customer = await make_user()
    await login(client, customer.email)
    account = await client.get("/account")
    assert "Set up two-factor sign-in" in account.text

    page = await client.get("/account/two-factor")
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text).group(1)
    assert 'src="data:image/svg+xml' in page.text  # the QR code is drawn by billdesk
    wrong = await client.post(
        "/account/two-factor", data={"code": "000000", "_csrf_token": csrf_token(page.text)}
    )
    assert wrong.status_code == 422 and "not right" in wrong.text
    assert not (await two_factor.status(customer.id))["enabled"]
    confirmed = await client.post(
        "/account/two-factor",
        data={"code": code_now(secret), "_csrf_token": csrf_token(page.text)},
    )
    assert confirmed.status_code == 200
    shown = re.findall(r"<li><code>([a-z0-9-]{14})</code></li>", confirmed.text)
    assert len(shown) == 10
    stored = await RecoveryCode.select(RecoveryCode.code_hash).where(
        RecoveryCode.user == customer.id
    )
    assert len(stored) == 10 and not {row["code_hash"] for row in stored} & set(shown)
    [enabled] = await entries("two_factor.enabled")
    assert (enabled["actor_id"], enabled["before"], enabled["after"]) == (
        customer.id,
        {"two_factor": False},
        {"two_factor": True},
    )

    await client.post("/logout", data={"_csrf_token": csrf_token(confirmed.text)})
    clock.advance(STEP)
    answer = await login(client, customer.email)
    assert answer.headers["location"] == "/login/code"
    # The password alone opens nothing.
    assert (await client.get("/tickets")).status_code == 302
    assert (await send_code(client, "123456")).status_code == 422
    signed_in = await send_code(client, code_now(secret))
    assert signed_in.status_code == 302 and signed_in.headers["location"] == "/tickets"
    assert (await client.get("/tickets")).status_code == 200
    assert [e["after"]["via"] for e in await entries("login.succeeded")][-1] == "password and app"
    failed = await entries("login.failed")
    assert [e["after"]["reason"] for e in failed] == ["wrong second-factor code"]


async def test_a_code_is_refused_a_second_time_within_its_window(client, app_client_factory, clock):
    customer = await make_user()
    secret, _ = await enable_two_factor(customer)
    code = code_now(secret)
    await login(client, customer.email)
    assert (await send_code(client, code)).status_code == 302

    async with app_client_factory() as other:
        await login(other, customer.email)
        again = await send_code(other, code)
        assert again.status_code == 422 and "used already" in again.text
        clock.advance(STEP)
        # An earlier step's code is refused too, once a later one was used.
        assert (
            await send_code(other, pyotp.TOTP(secret).at(clock.now() - 2 * STEP))
        ).status_code == 422
        assert (await send_code(other, code_now(secret))).status_code == 302


async def test_a_recovery_code_works_once(client, app_client_factory, clock):
    customer = await make_user()
    _, codes = await enable_two_factor(customer)
    await login(client, customer.email)
    assert (await send_code(client, codes[3].upper())).status_code == 302
    assert (await client.get("/tickets")).status_code == 200
    async with app_client_factory() as other:
        await login(other, customer.email)
        assert (await send_code(other, codes[3])).status_code == 422
        assert (await send_code(other, codes[4])).status_code == 302
    assert (await two_factor.status(customer.id))["recovery_codes_left"] == 8


async def test_required_for_staff_sends_an_unenrolled_agent_to_enrol_and_nowhere_else(
    client, app_client_factory, clock
):
    await two_factor.set_required(True)
    agent = await make_user(role="staff")
    answer = await login(client, agent.email)
    assert answer.headers["location"] == "/account/two-factor"
    for path in ("/desk", "/account", "/tickets", "/admin/audit", "/desk/templates"):
        blocked = await client.get(path)
        assert (blocked.status_code, blocked.headers["location"]) == (303, "/account/two-factor")
    page = await client.get("/account/two-factor")
    assert "Your role must use two-factor sign-in" in page.text
    blocked_post = await client.post(
        "/desk/templates", data={"title": "x", "body": "y", "_csrf_token": csrf_token(page.text)}
    )
    assert blocked_post.status_code == 303
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text).group(1)
    done = await client.post(
        "/account/two-factor", data={"code": code_now(secret), "_csrf_token": csrf_token(page.text)}
    )
    assert done.status_code == 200 and "data-recovery-codes" in done.text
    assert (await client.get("/desk")).status_code == 200
    # Customers are not asked; an agent cannot turn it off while it is required.
    async with app_client_factory() as other:
        customer = await make_user()
        assert (await login(other, customer.email)).headers["location"] == "/tickets"
    clock.advance(STEP)
    with pytest.raises(ValidationFailed) as refused:
        await two_factor.disable(as_current(agent), code_now(secret))
    assert "code" in refused.value.errors


async def test_turn_off_with_a_code(client, clock):
    customer = await make_user()
    secret, _ = await enable_two_factor(customer)
    await login(client, customer.email)
    await send_code(client, code_now(secret))
    clock.advance(STEP)
    page = await client.get("/account/two-factor")
    token = csrf_token(page.text)
    refused = await client.post(
        "/account/two-factor/disable", data={"code": "111111", "_csrf_token": token}
    )
    assert refused.status_code == 422
    done = await client.post(
        "/account/two-factor/disable", data={"code": code_now(secret), "_csrf_token": token}
    )
    assert done.status_code == 200 and "Two-factor sign-in is off" in done.text
    row = (
        await User.select(User.totp_secret, User.totp_enabled).where(User.id == customer.id).first()
    )
    # The page offers to set it up again, with a new secret; the old one and its codes are gone.
    assert row["totp_enabled"] is False and row["totp_secret"] != secret
    assert await RecoveryCode.count().where(RecoveryCode.user == customer.id) == 0
    [disabled] = await entries("two_factor.disabled")
    assert disabled["after"] == {"two_factor": False}


async def test_an_admin_resets_a_second_factor_and_it_is_audited(client, clock):
    admin = await make_user(role="admin")
    agent = await make_user(role="staff")
    await enable_two_factor(agent)
    await login(client, admin.email)
    page = await client.get(f"/admin/users/{agent.id}")
    assert "Reset the second factor" in page.text
    answer = await client.post(
        f"/admin/users/{agent.id}/two-factor/reset", data={"_csrf_token": csrf_token(page.text)}
    )
    assert answer.status_code in (302, 303)
    assert not (await two_factor.status(agent.id))["enabled"]
    [reset] = await entries("two_factor.reset")
    assert (reset["actor_id"], reset["target_id"], reset["before"], reset["after"]) == (
        admin.id,
        agent.id,
        {"two_factor": True},
        {"two_factor": False},
    )
    assert reset["ip"] and reset["actor_email"] == admin.email


async def test_a_password_reset_link_does_not_bypass_the_second_factor(client, clock):
    customer = await make_user()
    secret, _ = await enable_two_factor(customer)
    link, _ = await passwords.issue_token(user_id=customer.id, purpose="reset")
    page = await client.get(f"/password/reset/{link}")
    answer = await client.post(
        f"/password/reset/{link}",
        data={
            "password": "purple elephant marmalade",
            "password_repeat": "purple elephant marmalade",
            "_csrf_token": csrf_token(page.text),
        },
    )
    assert answer.status_code == 302 and answer.headers["location"] == "/login/code"
    assert (await client.get("/tickets")).status_code == 302
    assert (await send_code(client, code_now(secret))).status_code == 302
    assert (await client.get("/tickets")).status_code == 200
    [reset] = await entries("password.reset")
    assert (reset["actor_id"], reset["target_id"]) == (customer.id, customer.id)
    assert reset["after"] == {"password": "set with a mailed link"}
    # The old password is gone, the new one leads to the code again.
    client.cookies.clear()
    assert (await login(client, customer.email, PASSWORD)).status_code == 401
    moved_on = await login(client, customer.email, "purple elephant marmalade")
    assert moved_on.headers["location"] == "/login/code"
