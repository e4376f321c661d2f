"""Forgot password, the invitation of synced customers, and the change on the account page:
a link works once, expires, and the form never tells whether an account exists."""

from __future__ import annotations

import re
from datetime import timedelta

from billdesk import jobs
from billdesk.tables import Job, Session
from tests.factories import PASSWORD, csrf_token, login, make_token, make_user
from tests.support.mailbox import text_of

NEW_PASSWORD = "purple elephant marmalade"
LINK = re.compile(r"http://127\.0\.0\.1:8000(/password/reset/[A-Za-z0-9_-]+)")


async def ask_for_reset(client, email: str):
    page = await client.get("/password/forgot")
    return await client.post(
        "/password/forgot", data={"email": email, "_csrf_token": csrf_token(page.text)}
    )


def link_in(mail) -> str:
    match = LINK.search(text_of(mail))
    assert match, text_of(mail)
    return match.group(1)


async def choose(client, path: str, password: str = NEW_PASSWORD, repeat: str | None = None):
    # A used or expired link shows no form: take the form token from another page.
    token = csrf_token((await client.get("/password/forgot")).text)
    return await client.post(
        path,
        data={"password": password, "password_repeat": repeat or password, "_csrf_token": token},
    )


def without_csrf(html: str) -> str:
    return re.sub(
        r'value="[^"]+"(?=[^>]*name="_csrf_token")|name="_csrf_token" value="[^"]+"', "", html
    )


async def test_the_answer_is_the_same_whether_or_not_the_account_exists(client, mailbox):
    user = await make_user(email="alice@alice.test")
    known = await ask_for_reset(client, user.email)
    unknown = await ask_for_reset(client, "nobody@alice.test")
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known.text) == without_csrf(unknown.text)
    assert "If an account uses this address" in known.text
    # The same work in the request: one job each, the lookup happens later.
    assert await Job.count().where(Job.kind == "passwords.reset_requested") == 2
    await jobs.drain()
    assert [str(m["To"]) for m in mailbox.messages()] == [f"{user.name} <{user.email}>"]
    bad = await ask_for_reset(client, "not an address")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text


async def test_a_reset_link_works_once_logs_in_and_ends_the_other_sessions(
    client, app_client_factory, mailbox
):
    user = await make_user(email="alice@alice.test")
    async with app_client_factory() as elsewhere:
        await login(elsewhere, user.email)
        assert (await elsewhere.get("/account")).status_code == 200
        await ask_for_reset(client, user.email)
        await jobs.drain()
        [mail] = mailbox.to(user.email)
        assert mail["Subject"] == "Reset your password"
        assert mail["Auto-Submitted"] == "auto-generated"
        path = link_in(mail)

        short = await choose(client, path, password="short")
        assert short.status_code == 422 and "at least 8 characters" in short.text
        mismatch = await choose(client, path, repeat="something else entirely")
        assert mismatch.status_code == 422 and "not the same" in mismatch.text

        done = await choose(client, path)
        assert done.status_code in (302, 303) and done.headers["location"] == "/tickets"
        assert (await client.get("/tickets")).status_code == 200  # logged in
        assert (await elsewhere.get("/account")).status_code in (302, 303, 401)
    assert await Session.count() == 1

    again = await client.get(path)
    assert again.status_code == 404 and "does not work any more" in again.text
    reused = await choose(client, path, password="another long password")
    assert reused.status_code == 404
    async with app_client_factory() as fresh:
        assert (await login(fresh, user.email, PASSWORD)).status_code == 401
        assert (await login(fresh, user.email, NEW_PASSWORD)).status_code in (302, 303)


async def test_a_reset_link_expires_after_an_hour_and_few_are_sent(client, mailbox, clock):
    user = await make_user(email="alice@alice.test")
    for _ in range(5):
        await ask_for_reset(client, user.email)
    await jobs.drain()
    mails = mailbox.to(user.email)
    assert len(mails) == 3  # a few an hour at most: the form cannot flood a mailbox
    path = link_in(mails[0])
    clock.advance(timedelta(minutes=59))
    assert (await client.get(path)).status_code == 200
    clock.advance(timedelta(minutes=2))
    expired = await client.get(path)
    assert expired.status_code == 404 and "expired" in expired.text
    assert (await choose(client, path)).status_code == 404
    clock.advance(timedelta(minutes=1))
    await ask_for_reset(client, user.email)
    await jobs.drain()
    assert len(mailbox.to(user.email)) == 4


async def test_the_billing_system_invites_a_synced_customer_to_set_a_password(client, mailbox):
    admin = await make_user(role="admin")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    synced = await client.put(
        "/api/v1/admin/customers/cus-77",
        json={"email": "bob@bob.test", "name": "Bob Synced"},
        headers=headers,
    )
    assert synced.status_code in (200, 201)
    invited = await client.post("/api/v1/admin/customers/cus-77/invite", headers=headers)
    assert invited.status_code == 202, invited.text
    body = invited.json()
    assert body["email"] == "bob@bob.test" and body["mail"]["kind"] == "invite"
    assert body["mail"]["status"] == "queued"
    missing = await client.post("/api/v1/admin/customers/nope/invite", headers=headers)
    assert missing.status_code == 404
    customer_token = {"Authorization": f"Bearer {await make_token(await make_user())}"}
    assert (
        await client.post("/api/v1/admin/customers/cus-77/invite", headers=customer_token)
    ).status_code == 403

    await jobs.drain()
    [mail] = mailbox.to("bob@bob.test")
    assert mail["Subject"] == "Set your password"
    assert "within 7 days" in " ".join(text_of(mail).split())
    path = link_in(mail)
    page = await client.get(path)
    assert "Set your password" in page.text and "bob@bob.test" in page.text
    done = await choose(client, path)
    assert done.headers["location"] == "/tickets"
    assert (await client.get("/tickets")).status_code == 200


async def test_the_account_page_changes_the_password_after_the_current_one(
    client, app_client_factory
):
    user = await make_user(email="alice@alice.test")
    await login(client, user.email)
    async with app_client_factory() as elsewhere:
        await login(elsewhere, user.email)
        page = await client.get("/account")
        token = csrf_token(page.text)
        wrong = await client.post(
            "/account/password",
            data={
                "current_password": "not it at all",
                "password": NEW_PASSWORD,
                "password_repeat": NEW_PASSWORD,
                "_csrf_token": token,
            },
        )
        assert wrong.status_code == 422 and "not your current password" in wrong.text
        changed = await client.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "password_repeat": NEW_PASSWORD,
                "_csrf_token": token,
            },
        )
        assert changed.status_code == 200 and "Your password is changed" in changed.text
        assert (await client.get("/account")).status_code == 200  # this session stays
        assert (await elsewhere.get("/account")).status_code in (302, 303, 401)
    async with app_client_factory() as fresh:
        assert (await login(fresh, user.email, NEW_PASSWORD)).status_code in (302, 303)
