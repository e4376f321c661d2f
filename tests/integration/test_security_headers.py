"""Security headers on every response; no inline script anywhere; the docs page keeps working."""

from __future__ import annotations

import re

from billdesk.settings import get_settings, resource_dir
from billdesk.web.headers import security_headers
from tests.factories import login, make_token, make_user


def _directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";") if part.strip()
    }


def _assert_protected(answer) -> None:
    policy = _directives(answer.headers["content-security-policy"])
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-frame-options"] == "DENY"


async def test_every_kind_of_answer_carries_the_headers(client, app_client_factory):
    user = await make_user()
    token = await make_token(user)
    async with app_client_factory() as browser:
        await login(browser, user.email)
        answers = [
            await client.get("/login"),
            await browser.get("/tickets"),
            await browser.get("/no/such/page"),
            await client.get("/static/css/billdesk.css"),
            await client.get("/healthz"),
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
            await client.get("/api/v1/me"),
            await client.delete("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
            await client.get("/api/docs"),
            await client.get("/api/docs/openapi.json"),
        ]
    assert [answer.status_code for answer in answers] == [
        200, 200, 404, 200, 200, 200, 401, 405, 200, 200,
    ]
    for answer in answers:
        _assert_protected(answer)
    assert "Strict-Transport-Security" not in answers[0].headers  # the base URL is http


async def test_hsts_when_the_base_url_is_https(client, monkeypatch):
    monkeypatch.setenv("BILLDESK_BASE_URL", "https://desk.example.test")
    get_settings.cache_clear()
    try:
        answer = await client.get("/login")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in security_headers("/login", https=False)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_templates_have_no_inline_script_or_handler():
    """Behaviour lives in static/js, so the policy can forbid inline scripts."""
    offenders = [
        template.name
        for template in resource_dir("templates").rglob("*.html")
        if INLINE_SCRIPT.search(template.read_text()) or HANDLER.search(template.read_text())
    ]
    assert not offenders


async def test_the_docs_page_has_its_own_policy_and_no_inline_script(client):
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert not INLINE_SCRIPT.search(page.text)
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    policy = _directives(page.headers["content-security-policy"])
    for src in scripts:
        origin = re.match(r"https://[^/]+", src)
        assert origin is None or origin.group(0) in policy["script-src"]
    local = [src for src in scripts if src.startswith("/")]
    assert local
    for src in local:
        assert (await client.get(src)).status_code == 200
    spec = await client.get(re.search(r'data-openapi-url="([^"]+)"', page.text).group(1))
    assert spec.json()["paths"]


async def test_the_favicon_exists(client):
    answer = await client.get("/favicon.ico")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/x-icon"
    assert answer.content[:4] == b"\x00\x00\x01\x00"
