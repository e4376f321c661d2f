"""Each role reaches its own areas and no other; pages fail kindly."""

from __future__ import annotations

import pytest

from tests.factories import login, make_user

AREAS = {
    "/tickets": {"customer"},
    "/desk": {"staff", "admin"},
    "/finance": {"finance", "admin"},
    "/admin/departments": {"admin"},
    "/admin/jobs": {"admin"},
    "/account": {"customer", "staff", "finance", "admin"},
}


@pytest.mark.parametrize("role", ["customer", "staff", "finance", "admin"])
async def test_each_role_reaches_only_its_areas(client, role):
    user = await make_user(role=role)
    await login(client, user.email)
    for path, allowed in AREAS.items():
        answer = await client.get(path)
        expected = 200 if role in allowed else 403
        assert answer.status_code == expected, (role, path, answer.status_code)
        if expected == 403:
            assert "for " in answer.text and "<nav" in answer.text  # friendly page, site layout


async def test_unknown_page_is_a_friendly_404(client):
    answer = await client.get("/no/such/page")
    assert answer.status_code == 404
    assert "There is nothing here" in answer.text
    assert "Traceback" not in answer.text


async def test_healthz_reports_the_database(client):
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


async def test_static_stylesheet_is_served(client):
    answer = await client.get("/static/css/billdesk.css")
    assert answer.status_code == 200
    assert "text/css" in answer.headers["content-type"]


async def test_openapi_document_is_served(client):
    answer = await client.get("/api/docs/openapi.json")
    assert answer.status_code == 200
    assert "/api/v1/me" in answer.json()["paths"]
    assert "post" in answer.json()["paths"]["/api/v1/me/telegram-link"]
    assert "post" in answer.json()["paths"]["/telegram/webhook"]


async def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from billdesk.tables import User

    def unreachable(*_args, **_kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(User, "select", unreachable)
    answer = await client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["database"] == "unreachable"


async def test_server_error_page_shows_no_traceback(client, monkeypatch):
    from billdesk.web import account

    async def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(account, "render", broken)
    answer = await client.get("/login")
    assert answer.status_code == 500
    assert "Something went wrong on our side" in answer.text
    assert "secret internal detail" not in answer.text and "Traceback" not in answer.text
