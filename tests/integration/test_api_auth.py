"""Bearer tokens for /api/v1, and RFC 9457 problem documents."""

from __future__ import annotations

from billdesk.auth import revoke_api_token
from billdesk.tables import ApiToken
from tests.factories import login, make_token, make_user

PROBLEM = "application/problem+json"


async def test_me_answers_with_the_token_owner(client):
    user = await make_user(role="staff")
    token = await make_token(user)
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == {"id": user.id, "email": user.email, "name": user.name, "role": "staff"}


async def test_tokens_are_stored_only_as_hashes():
    user = await make_user()
    token = await make_token(user)
    rows = await ApiToken.select(ApiToken.token_hash, ApiToken.prefix)
    assert token not in rows[0]["token_hash"] and len(rows[0]["token_hash"]) == 64


async def test_missing_malformed_and_revoked_tokens_get_401_problems(client):
    user = await make_user()
    token = await make_token(user)
    token_id = (await ApiToken.select(ApiToken.id).first())["id"]
    await revoke_api_token(token_id)
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {token}"},
    ):
        answer = await client.get("/api/v1/me", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.json()["code"] == "unauthorized"
        assert answer.json()["status"] == 401


async def test_deactivated_user_token_stops_working_at_once(client):
    from billdesk.tables import User

    user = await make_user()
    token = await make_token(user)
    await User.update({User.active: False}).where(User.id == user.id)
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


async def test_session_cookie_does_not_authenticate_the_api(client):
    user = await make_user()
    await login(client, user.email)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_unknown_api_path_is_a_404_problem(client):
    user = await make_user()
    token = await make_token(user)
    answer = await client.get("/api/v1/nothing", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


async def test_account_page_creates_and_revokes_tokens(client):
    from tests.factories import csrf_token

    user = await make_user()
    await login(client, user.email)
    page = await client.get("/account")
    created = await client.post(
        "/account/tokens", data={"name": "billing sync", "_csrf_token": csrf_token(page.text)}
    )
    import re

    secret = re.search(r"<code data-new-token>([^<]+)</code>", created.text).group(1)
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    token_id = (await ApiToken.select(ApiToken.id).first())["id"]
    await client.post(
        f"/account/tokens/{token_id}/revoke", data={"_csrf_token": csrf_token(created.text)}
    )
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 401
