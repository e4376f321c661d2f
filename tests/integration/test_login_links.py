"""Sign-in links from the billing panel: once, within 60 seconds, never off-site,
never for a deactivated customer, only asked for by an admin."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from tests.desk_support import bearer
from tests.factories import make_user


async def _link(client, admin, external_id="cust-9", redirect="/tickets"):
    answer = await client.post(
        f"/api/v1/admin/customers/{external_id}/login-link",
        headers=admin,
        json={"redirect": redirect},
    )
    return answer


async def test_a_link_signs_the_customer_in_once_and_goes_where_it_says(client, clock):
    admin = await bearer(await make_user(role="admin"))
    customer = await make_user(external_id="cust-9", name="Linked Customer")
    answer = await _link(client, admin)
    assert answer.status_code == 201, answer.text
    link = answer.json()
    assert link["expires_at"] == "2026-11-02T09:01:00Z"
    path = urlsplit(link["url"]).path
    assert path.startswith("/login/link/")

    opened = await client.get(path)
    assert opened.status_code == 302 and opened.headers["location"] == "/tickets"
    page = await client.get("/tickets")
    assert page.status_code == 200 and customer.name in page.text

    client.cookies.clear()
    again = await client.get(path)
    assert again.status_code == 410
    assert "used already or has expired" in again.text and 'action="/login"' in again.text
    assert (await client.get("/tickets")).status_code == 302  # not signed in


async def test_a_link_is_dead_after_60_seconds(client, clock):
    admin = await bearer(await make_user(role="admin"))
    await make_user(external_id="cust-9")
    path = urlsplit((await _link(client, admin)).json()["url"]).path
    clock.advance(timedelta(seconds=61))
    answer = await client.get(path)
    assert answer.status_code == 410 and "used already or has expired" in answer.text
    unknown = await client.get("/login/link/not-a-real-secret")
    assert unknown.status_code == 410


async def test_a_link_never_leaves_billdesk(client, clock):
    admin = await bearer(await make_user(role="admin"))
    await make_user(external_id="cust-9")
    for target, lands in [
        ("/tickets/12?tab=1", "/tickets/12?tab=1"),
        ("https://evil.test/steal", "/"),
        ("//evil.test/steal", "/"),
        ("/\\evil.test", "/"),
        ("javascript:alert(1)", "/"),
        ("tickets", "/"),
        (None, "/"),
    ]:
        path = urlsplit((await _link(client, admin, redirect=target)).json()["url"]).path
        client.cookies.clear()
        answer = await client.get(path)
        assert answer.status_code == 302 and answer.headers["location"] == lands, target


async def test_no_link_for_a_deactivated_or_unknown_customer_or_without_the_admin_role(client):
    admin = await bearer(await make_user(role="admin"))
    await make_user(external_id="cust-off", active=False)
    await make_user(external_id="cust-9")
    refused = await _link(client, admin, external_id="cust-off")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert (await _link(client, admin, external_id="nobody")).status_code == 404
    staff_made = await make_user(role="staff", external_id="staff-1")
    assert (await _link(client, admin, external_id="staff-1")).status_code == 404
    for role in ("customer", "staff", "finance"):
        headers = await bearer(await make_user(role=role))
        assert (await _link(client, headers)).status_code == 403, role
    assert (await _link(client, {})).status_code == 401
    assert staff_made.role == "staff"
