"""An admin resetting a password or deactivating a user ends that user's sessions
and API tokens at once, by the admin pages and by the API."""

from __future__ import annotations

from contextlib import asynccontextmanager

from billdesk.tables import ApiToken, Session
from tests.factories import csrf_token, login, make_token, make_user

NEW_PASSWORD = "a brand new passphrase"


@asynccontextmanager
async def signed_in(app_client_factory, user):
    """A browser logged in as `user`, and an API token of theirs."""
    async with app_client_factory() as browser:
        await login(browser, user.email)
        assert (await browser.get("/account")).status_code == 200
        yield browser, await make_token(user)


async def _locked_out(client, browser, token) -> bool:
    page = await browser.get("/account")
    api = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return page.status_code in (302, 303) and api.status_code == 401


async def test_a_password_reset_through_the_api_ends_sessions_and_tokens(client, app_client_factory):
    admin, user = await make_user(role="admin"), await make_user(role="staff")
    admin_token = await make_token(admin)
    async with signed_in(app_client_factory, user) as (browser, token):
        answer = await client.patch(
            f"/api/v1/admin/users/{user.id}", json={"password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert answer.status_code == 200, answer.text
        assert await _locked_out(client, browser, token)
        assert await Session.count().where(Session.user == user.id) == 0
        assert await ApiToken.count().where(
            (ApiToken.user == user.id) & ApiToken.revoked_at.is_null()
        ) == 0
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {admin_token}"})
        assert me.status_code == 200  # the admin's own access is untouched
        assert (await login(browser, user.email, NEW_PASSWORD)).status_code in (302, 303)


async def test_a_name_change_keeps_the_user_signed_in(client, app_client_factory):
    admin, user = await make_user(role="admin"), await make_user(role="staff")
    admin_token = await make_token(admin)
    async with signed_in(app_client_factory, user) as (browser, token):
        await client.patch(
            f"/api/v1/admin/users/{user.id}", json={"name": "Renamed"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert not await _locked_out(client, browser, token)


async def test_the_admin_pages_end_access_on_reset_and_on_deactivation(client, app_client_factory):
    admin = await make_user(role="admin")
    reset, deactivated = await make_user(role="staff"), await make_user(role="customer")
    async with app_client_factory() as admin_browser:
        await login(admin_browser, admin.email)
        for user, form in (
            (reset, {"password": NEW_PASSWORD, "active": "on"}),
            (deactivated, {}),
        ):
            async with signed_in(app_client_factory, user) as (browser, token):
                page = await admin_browser.get(f"/admin/users/{user.id}")
                answer = await admin_browser.post(
                    f"/admin/users/{user.id}",
                    data={
                        "email": user.email, "name": user.name, "role": user.role, **form,
                        "_csrf_token": csrf_token(page.text),
                    },
                )
                assert answer.status_code in (302, 303), answer.text
                assert await _locked_out(client, browser, token)


async def test_an_admin_cannot_lock_themselves_out_through_the_api(client):
    admin = await make_user(role="admin")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    for change, field in (({"active": False}, "active"), ({"role": "staff"}, "role")):
        answer = await client.patch(f"/api/v1/admin/users/{admin.id}", json=change, headers=headers)
        assert answer.status_code == 422
        assert field in {error["field"] for error in answer.json()["errors"]}
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "admin"
