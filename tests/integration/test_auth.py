"""Log-in, log-out, sessions, CSRF and the throttle, as a browser sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billdesk.auth import SESSION_COOKIE
from billdesk.login_throttle import limits
from billdesk.tables import Session
from tests.factories import PASSWORD, form_token, login, make_user

GENERIC = "The email or the password is not right."


async def test_login_sends_each_role_home(client):
    homes = {"customer": "/tickets", "staff": "/desk", "finance": "/finance", "admin": "/desk"}
    for role, home in homes.items():
        user = await make_user(role=role)
        client.cookies.clear()
        answer = await login(client, user.email)
        assert answer.status_code in (302, 303)
        assert answer.headers["location"].endswith(home)


async def test_session_cookie_is_httponly_and_samesite(client):
    user = await make_user()
    answer = await login(client, user.email)
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie


async def test_password_is_stored_as_argon2_hash():
    from billdesk.tables import User

    user = await make_user()
    row = await User.select(User.password_hash).where(User.id == user.id).first()
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(client):
    user = await make_user()
    wrong = await login(client, user.email, "not the password")
    unknown = await login(client, "nobody@example.test", "whatever")
    assert wrong.status_code == unknown.status_code == 401
    assert GENERIC in wrong.text and GENERIC in unknown.text
    assert 'value="nobody@example.test"' in unknown.text  # the form keeps what was typed
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")


async def test_disabled_user_cannot_log_in(client):
    user = await make_user(active=False)
    answer = await login(client, user.email)
    assert answer.status_code == 403
    assert "disabled" in answer.text
    assert (await client.get("/tickets")).status_code in (302, 303)


async def test_blank_fields_are_refused_with_a_message(client):
    token = await form_token(client)
    answer = await client.post("/login", data={"email": "", "password": "", "_csrf_token": token})
    assert answer.status_code == 400
    assert "Enter your email and your password." in answer.text


async def test_missing_or_wrong_csrf_token_is_refused(client):
    user = await make_user()
    await client.get("/login")
    missing = await client.post("/login", data={"email": user.email, "password": PASSWORD})
    wrong = await client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "_csrf_token": "forged"}
    )
    for answer in (missing, wrong):
        assert answer.status_code == 403
        assert "This form has expired" in answer.text
        assert "Traceback" not in answer.text
    assert await Session.count() == 0


async def test_a_form_token_is_refused_in_another_session(app_client_factory):
    first, second = await make_user(), await make_user()
    async with app_client_factory() as mine, app_client_factory() as theirs:
        await login(mine, first.email)
        await login(theirs, second.email)
        stolen = await form_token(theirs, "/account")
        # Even with the other browser's CSRF cookie planted alongside, the token is refused.
        mine.cookies.set("billdesk_csrf", theirs.cookies.get("billdesk_csrf") or "")
        refused = await mine.post("/account/tokens", data={"name": "x", "_csrf_token": stolen})
        assert refused.status_code == 403
        assert "This form has expired" in refused.text
        own = await form_token(mine, "/account")
        accepted = await mine.post("/account/tokens", data={"name": "x", "_csrf_token": own})
        assert accepted.status_code == 200


async def test_the_login_form_token_belongs_to_its_browser(app_client_factory):
    user = await make_user()
    async with app_client_factory() as attacker, app_client_factory() as victim:
        planted = await form_token(attacker, "/login")
        await victim.get("/login")
        answer = await victim.post(
            "/login", data={"email": user.email, "password": PASSWORD, "_csrf_token": planted}
        )
        assert answer.status_code == 403
        assert await Session.count() == 0
        assert (await login(victim, user.email)).status_code in (302, 303)


async def test_logout_ends_the_session(client):
    user = await make_user()
    await login(client, user.email)
    assert (await client.get("/tickets")).status_code == 200
    token = await form_token(client, "/tickets")
    await client.post("/logout", data={"_csrf_token": token})
    assert await Session.count() == 0
    assert (await client.get("/tickets")).status_code in (302, 303)


async def test_anonymous_visitor_is_sent_to_login_with_next(client):
    answer = await client.get("/tickets?status=solved")
    assert answer.status_code in (302, 303)
    assert answer.headers["location"] == "/login?next=%2Ftickets%3Fstatus%3Dsolved"


async def test_next_never_leaves_the_site(client):
    user = await make_user()
    token = await form_token(client)
    answer = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "next": "//evil.example/x",
            "_csrf_token": token,
        },
    )
    assert answer.headers["location"].endswith("/tickets")


async def test_forged_and_expired_session_cookies_are_not_accepted(client):
    user = await make_user()
    await login(client, user.email)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, "forged-value")
    assert (await client.get("/tickets")).status_code in (302, 303)

    client.cookies.clear()
    await login(client, user.email)
    await Session.update({Session.expires_at: datetime.now(UTC) - timedelta(minutes=1)}).where(
        Session.user == user.id
    )
    assert (await client.get("/tickets")).status_code in (302, 303)


async def test_sessions_survive_a_restart(app_client_factory):
    user = await make_user()
    async with app_client_factory() as first:
        await login(first, user.email)
        cookie = first.cookies.get(SESSION_COOKIE)
        assert (await first.get("/tickets")).status_code == 200
    async with app_client_factory() as second:
        second.cookies.set(SESSION_COOKIE, cookie)
        assert (await second.get("/tickets")).status_code == 200


async def test_deactivated_user_loses_sessions_at_once(client):
    from billdesk.accounts import deactivate_user

    user = await make_user()
    await login(client, user.email)
    await deactivate_user(user.id)
    assert (await client.get("/tickets")).status_code in (302, 303)


async def test_throttle_after_ten_failures_for_an_account(client):
    user = await make_user()
    for _ in range(limits().pair):
        assert (await login(client, user.email, "wrong")).status_code == 401
    blocked = await login(client, user.email)  # even the right password waits
    assert blocked.status_code == 429
    assert "Too many failed log-in attempts" in blocked.text


async def test_throttle_holds_per_address_across_accounts(client):
    from billdesk import login_throttle

    # All but the last failure straight into the counters (the test client's address).
    for n in range(limits().address - 1):
        await login_throttle.begin(email=f"guess{n}@example.test", ip="testclient")
    assert (await login(client, "last-guess@example.test", "wrong")).status_code == 401
    other = await make_user()
    assert (await login(client, other.email)).status_code == 429


async def test_a_success_resets_the_throttle(client):
    user = await make_user()
    for _ in range(limits().pair - 1):
        await login(client, user.email, "wrong")
    assert (await login(client, user.email)).status_code in (302, 303)
    client.cookies.clear()
    for _ in range(limits().pair - 1):
        assert (await login(client, user.email, "wrong")).status_code == 401
    assert (await login(client, user.email)).status_code in (302, 303)
