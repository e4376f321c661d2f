"""The customer JSON API, as API.md "Customers" specifies it."""

from __future__ import annotations

import re

import pytest

from billdesk.attachments import Upload
from billdesk.tables import Attachment, Message, Notification, QuotaCounter, Setting, Ticket
from billdesk.tickets import close_ticket, reply_as_staff
from tests.factories import (
    as_current,
    make_department,
    make_service,
    make_ticket,
    make_token,
    make_user,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SUMMARY_FIELDS = {
    "id", "subject", "status", "archived", "department", "service", "created_at",
    "last_message_at", "answers", "unread", "charge", "type", "request",
}


@pytest.fixture
async def api(client):
    """A client acting as a customer with an API token; `.user` is the customer."""
    user = await make_user()
    client.headers["Authorization"] = f"Bearer {await make_token(user)}"
    client.user = user  # type: ignore[attr-defined]
    return client


def _problem(answer, status, code, field=None):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code
    if field:
        assert field in [error["field"] for error in body.get("errors", [])], body
    return body


async def test_needs_a_token_and_a_customer(client):
    assert (await client.get("/api/v1/tickets")).status_code == 401
    staff = await make_user(role="staff")
    client.headers["Authorization"] = f"Bearer {await make_token(staff)}"
    _problem(await client.get("/api/v1/tickets"), 403, "forbidden")


async def test_departments_with_quota_and_next_ticket(api):
    free = await make_department(name="A hosting", free_tickets=2, quota_period="month")
    always = await make_department(name="B sales", free_tickets=None)
    paid = await make_department(name="C billing", free_tickets=1, quota_period="lifetime",
                                 ticket_price=2500, currency="eur")
    await make_department(name="D hidden", public=False)
    await make_department(name="E closed", active=False)
    await make_ticket(api.user, paid)
    answer = await api.get("/api/v1/departments")
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [d["name"] for d in items] == ["A hosting", "B sales", "C billing"]
    by_id = {d["id"]: d for d in items}
    assert set(by_id[free]) == {"id", "slug", "name", "description", "quota", "next_ticket",
                              "request_kinds"}
    quota = by_id[free]["quota"]
    assert (quota["free_per_period"], quota["period"], quota["used"], quota["remaining"]) == (2, "month", 0, 2)
    assert TIME.match(quota["resets_at"])
    assert by_id[free]["next_ticket"] == {"paid": False, "price": None}
    assert by_id[always]["quota"] is None
    assert by_id[paid]["quota"]["resets_at"] is None
    assert by_id[paid]["next_ticket"] == {"paid": True, "price": {"amount": 2500, "currency": "eur"}}


async def test_services_are_the_callers_own(api):
    mine = await make_service(customer_id=api.user.id, name="vps-1")
    other = await make_user()
    await make_service(customer_id=other.id, name="not-mine")
    items = (await api.get("/api/v1/services")).json()["items"]
    assert [s["id"] for s in items] == [mine]
    assert set(items[0]) == {"id", "external_id", "name", "kind", "status"}


async def test_open_ticket_json_free_then_402_409_503(api):
    department = await make_department(free_tickets=1, ticket_price=1500)
    service = await make_service(customer_id=api.user.id, name="vps-1")
    answer = await api.post(
        "/api/v1/tickets",
        json={"department_id": department, "service_id": service, "message": "  Mail bounces\nsince today"},
    )
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert SUMMARY_FIELDS <= set(ticket) and "messages" in ticket
    assert ticket["status"] == "in_progress" and ticket["charge"] is None
    assert ticket["subject"] == "Mail bounces"
    assert ticket["service"] == {"id": service, "name": "vps-1"}
    assert TIME.match(ticket["created_at"]) and TIME.match(ticket["last_message_at"])
    assert ticket["messages"][0]["author"]["id"] == api.user.id
    assert ticket["payment_url"] is None

    body = _problem(
        await api.post("/api/v1/tickets", json={"department_id": department, "message": "Second"}),
        402, "payment_confirmation_required",
    )
    assert body["price"] == {"amount": 1500, "currency": "usd"}
    body = _problem(
        await api.post("/api/v1/tickets", json={
            "department_id": department, "message": "Second", "accept_price": {"amount": 900, "currency": "usd"},
        }),
        409, "price_changed",
    )
    assert body["price"] == {"amount": 1500, "currency": "usd"}
    _problem(
        await api.post("/api/v1/tickets", json={
            "department_id": department, "message": "Second", "accept_price": {"amount": 1500, "currency": "usd"},
        }),
        503, "payments_unavailable",
    )
    _problem(
        await api.post("/api/v1/tickets", json={"department_id": department, "message": "Second", "accept_price": 1500}),
        503, "payments_unavailable",
    )
    assert await Ticket.count() == 1
    assert (await QuotaCounter.select(QuotaCounter.used).first())["used"] == 1


async def test_open_ticket_multipart_with_attachments(api):
    department = await make_department()
    answer = await api.post(
        "/api/v1/tickets",
        data={"department_id": str(department), "message": "Screenshot attached"},
        files=[("attachments", ("a.png", PNG, "image/png")), ("attachments", ("b.gif", b"GIF89a" + b"\0" * 9, "image/gif"))],
    )
    assert answer.status_code == 201, answer.text
    files = answer.json()["messages"][0]["attachments"]
    assert [f["filename"] for f in files] == ["a.png", "b.gif"]
    assert set(files[0]) == {"id", "filename", "content_type", "size", "url"}
    download = await api.get(files[0]["url"])
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")


async def test_open_ticket_bad_input(api):
    department = await make_department()
    hidden = await make_department(public=False)
    other = await make_user()
    foreign = await make_service(customer_id=other.id)
    exe = b"MZ" + b"\0" * 50
    cases = [
        ({"department_id": hidden, "message": "x"}, 422, "validation_error", "department_id"),
        ({"message": "x"}, 422, "validation_error", "department_id"),
        ({"department_id": "abc", "message": "x"}, 422, "validation_error", "department_id"),
        ({"department_id": department, "service_id": foreign, "message": "x"}, 422, "validation_error", "service_id"),
        ({"department_id": department, "message": " \n "}, 422, "validation_error", "message"),
        ({"department_id": department}, 422, "validation_error", "message"),
        ({"department_id": department, "message": "y" * 10_001}, 422, "validation_error", "message"),
        ({"department_id": department, "message": "x", "accept_price": "lots"}, 422, "validation_error", "accept_price"),
    ]
    for data, status, code, field in cases:
        _problem(await api.post("/api/v1/tickets", json=data), status, code, field)
    file_cases = [
        ([("attachments", (f"{i}.png", PNG, "image/png")) for i in range(6)], 422, "attachment_rejected"),
        ([("attachments", ("big.png", PNG + b"\0" * (5 * 1024 * 1024), "image/png"))], 413, "payload_too_large"),
        ([("attachments", ("fake.png", b"not a png at all", "image/png"))], 422, "attachment_rejected"),
        ([("attachments", ("setup.zip", exe, "application/zip"))], 422, "attachment_rejected"),
    ]
    for files, status, code in file_cases:
        _problem(
            await api.post("/api/v1/tickets", data={"department_id": str(department), "message": "x"}, files=files),
            status, code, "attachments",
        )
    _problem(await api.post("/api/v1/tickets", content=b"{nope", headers={"content-type": "application/json"}),
             422, "validation_error")
    assert await Ticket.count() == 0 and await Attachment.count() == 0 and await Message.count() == 0


async def test_client_token_makes_a_repeat_answer_the_same_ticket(api):
    department = await make_department()
    payload = {"department_id": department, "message": "Once", "client_token": "t-1"}
    first = await api.post("/api/v1/tickets", json=payload)
    second = await api.post("/api/v1/tickets", json=payload)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert await Ticket.count() == 1


async def test_list_filters_and_cursor_pages(api):
    hosting = await make_department(free_tickets=None)
    domains = await make_department(free_tickets=None)
    ids = [await make_ticket(api.user, hosting, message=f"Issue {n}") for n in range(5)]
    solved = await make_ticket(api.user, domains, message="Domain")
    await close_ticket(solved, as_current(api.user))
    other = await make_user()
    await make_ticket(other, hosting, message="Not yours")

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await api.get("/api/v1/tickets", params=params)).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [solved, *reversed(ids)]
    item = (await api.get("/api/v1/tickets", params={"status": "solved"})).json()["items"]
    assert [i["id"] for i in item] == [solved] and set(item[0]) == SUMMARY_FIELDS
    assert [i["id"] for i in (await api.get(f"/api/v1/tickets?department={domains}")).json()["items"]] == [solved]
    _problem(await api.get("/api/v1/tickets?status=bogus"), 422, "validation_error", "status")
    _problem(await api.get("/api/v1/tickets?limit=0"), 422, "validation_error", "limit")
    _problem(await api.get("/api/v1/tickets?limit=101"), 422, "validation_error", "limit")
    _problem(await api.get("/api/v1/tickets?cursor=garbage!"), 422, "validation_error", "cursor")
    _problem(await api.get("/api/v1/tickets?archived=maybe"), 422, "validation_error", "archived")

    await api.post(f"/api/v1/tickets/{solved}/archive")
    assert solved not in [i["id"] for i in (await api.get("/api/v1/tickets")).json()["items"]]
    archived = (await api.get("/api/v1/tickets?archived=true")).json()["items"]
    assert [i["id"] for i in archived] == [solved] and archived[0]["archived"] is True


async def test_thread_reply_read_close_archive_delete(api):
    admin = await make_user(role="admin")
    ticket_id = await make_ticket(api.user, await make_department(), message="<b>bold</b> question")
    await reply_as_staff(ticket_id, as_current(admin), "Public answer", internal=False)
    await reply_as_staff(ticket_id, as_current(admin), "Internal only", internal=True)

    listed = (await api.get("/api/v1/tickets")).json()["items"][0]
    assert listed["unread"] is True and listed["answers"] == 1 and listed["status"] == "waiting_for_reply"
    ticket = (await api.get(f"/api/v1/tickets/{ticket_id}")).json()
    assert [m["body"] for m in ticket["messages"]] == ["<b>bold</b> question", "Public answer"]
    assert all(m["internal"] is False for m in ticket["messages"])
    assert ticket["messages"][1]["author"] == {"id": admin.id, "name": admin.name, "role": "admin"}
    assert (await api.get("/api/v1/tickets")).json()["items"][0]["unread"] is False

    _problem(await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": ""}), 422, "validation_error", "body")
    _problem(await api.post(f"/api/v1/tickets/{ticket_id}/archive"), 409, "invalid_transition")
    reply = await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "Still broken"})
    assert reply.status_code == 201 and reply.json()["body"] == "Still broken"
    reply_id = reply.json()["id"]
    with_file = await api.post(
        f"/api/v1/tickets/{ticket_id}/messages", data={"body": "Log"},
        files=[("attachments", ("l.png", PNG, "image/png"))],
    )
    assert with_file.status_code == 201 and len(with_file.json()["attachments"]) == 1
    assert (await api.get(f"/api/v1/tickets/{ticket_id}")).json()["status"] == "in_progress"

    opening_id = ticket["messages"][0]["id"]
    _problem(await api.delete(f"/api/v1/tickets/{ticket_id}/messages/{opening_id}"), 409, "invalid_transition")
    staff_message = ticket["messages"][1]["id"]
    _problem(await api.delete(f"/api/v1/tickets/{ticket_id}/messages/{staff_message}"), 404, "not_found")

    closed = await api.post(f"/api/v1/tickets/{ticket_id}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "solved"
    again = await api.post(f"/api/v1/tickets/{ticket_id}/close")
    assert again.status_code == 200 and again.json()["status"] == "solved"
    _problem(await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "x"}), 409, "ticket_closed")
    assert (await api.delete(f"/api/v1/tickets/{ticket_id}/messages/{reply_id}")).status_code == 204
    messages = (await api.get(f"/api/v1/tickets/{ticket_id}")).json()["messages"]
    deleted = next(m for m in messages if m["id"] == reply_id)
    assert deleted["deleted"] is True and deleted["body"] == ""
    archived = await api.post(f"/api/v1/tickets/{ticket_id}/archive")
    assert archived.status_code == 200 and archived.json()["archived"] is True


async def test_other_customers_things_are_404(api):
    other = await make_user()
    department = await make_department()
    ticket_id = await make_ticket(other, department)
    admin = await make_user(role="admin")
    await reply_as_staff(ticket_id, as_current(admin), "note", internal=True,
                         files=[Upload("n.png", PNG)])
    message = await Message.select(Message.id).where(Message.ticket == ticket_id).first()
    attachment = await Attachment.select(Attachment.id).first()
    for method, path in [
        ("get", f"/api/v1/tickets/{ticket_id}"),
        ("post", f"/api/v1/tickets/{ticket_id}/messages"),
        ("delete", f"/api/v1/tickets/{ticket_id}/messages/{message['id']}"),
        ("post", f"/api/v1/tickets/{ticket_id}/close"),
        ("post", f"/api/v1/tickets/{ticket_id}/archive"),
        ("get", f"/api/v1/attachments/{attachment['id']}"),
        ("get", "/api/v1/tickets/999999"),
    ]:
        kwargs = {"json": {"body": "x"}} if method == "post" else {}
        _problem(await getattr(api, method)(path, **kwargs), 404, "not_found")
    assert (await Ticket.select(Ticket.status).first())["status"] == "in_progress"


async def test_internal_note_attachments_never_reach_the_customer(api):
    admin = await make_user(role="admin")
    ticket_id = await make_ticket(api.user, await make_department())
    await reply_as_staff(ticket_id, as_current(admin), "note", internal=True, files=[Upload("n.png", PNG)])
    attachment = await Attachment.select(Attachment.id).first()
    _problem(await api.get(f"/api/v1/attachments/{attachment['id']}"), 404, "not_found")
    admin_client_headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    assert (await api.get(f"/api/v1/attachments/{attachment['id']}", headers=admin_client_headers)).status_code == 200
    outsider = await make_user(role="staff")
    outsider_headers = {"Authorization": f"Bearer {await make_token(outsider)}"}
    _problem(await api.get(f"/api/v1/attachments/{attachment['id']}", headers=outsider_headers), 404, "not_found")


async def test_support_switched_off(api):
    department = await make_department()
    ticket_id = await make_ticket(api.user, department)
    await Setting.insert(Setting(key="support_enabled", value="false"))
    _problem(await api.post("/api/v1/tickets", json={"department_id": department, "message": "x"}), 403, "support_disabled")
    _problem(await api.post(f"/api/v1/tickets/{ticket_id}/messages", json={"body": "x"}), 403, "support_disabled")
    assert (await api.get(f"/api/v1/tickets/{ticket_id}")).status_code == 200
    assert await Ticket.count() == 1 and await Message.count() == 1


async def test_notifications_list_and_read(api):
    admin = await make_user(role="admin")
    ticket_id = await make_ticket(api.user, await make_department())
    await reply_as_staff(ticket_id, as_current(admin), "Answer", internal=False)
    await close_ticket(ticket_id, as_current(admin))
    items = (await api.get("/api/v1/notifications")).json()["items"]
    assert [i["kind"] for i in items] == ["ticket_solved", "reply_received"]
    assert all(i["ticket_id"] == ticket_id and i["read"] is False and TIME.match(i["created_at"]) for i in items)
    first = await api.post("/api/v1/notifications/read", json={"ids": [items[1]["id"]]})
    assert first.json() == {"updated": 1}
    rest = await api.post("/api/v1/notifications/read")
    assert rest.status_code == 200 and rest.json() == {"updated": 1}
    assert await Notification.count().where(Notification.read == False) == 0  # noqa: E712
    _problem(await api.post("/api/v1/notifications/read", json={"ids": "all"}), 422, "validation_error", "ids")


async def test_confirmed_paid_ticket_answers_awaiting_payment_with_payment_url(api, monkeypatch):
    from billdesk.tickets import opening

    charged: list[int] = []

    class Payments:  # writes nothing, charges nothing: the ticket waits to be paid
        @staticmethod
        def look_up_card(stripe_customer_id):
            return None

        @staticmethod
        async def write_first_attempt(*, ticket_id, **_):
            return ticket_id

        @staticmethod
        async def charge_opened_ticket(ticket_id):
            charged.append(ticket_id)

    monkeypatch.setattr(opening, "_payments", lambda: Payments)
    department = await make_department(free_tickets=0, ticket_price=1500)
    answer = await api.post("/api/v1/tickets", json={
        "department_id": department, "message": "Paid help", "accept_price": {"amount": 1500, "currency": "usd"},
    })
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["status"] == "awaiting_payment" and charged == [ticket["id"]]
    assert ticket["payment_url"].endswith(f"/tickets/{ticket['id']}/checkout")
