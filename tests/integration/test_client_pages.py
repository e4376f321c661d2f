"""The client area's pages, as a customer uses them in the browser."""

from __future__ import annotations

import re

from billdesk.tables import Attachment, Message, Notification, Setting, Ticket
from billdesk.tickets import close_ticket, reply_as_staff
from tests.factories import (
    as_current,
    csrf_token,
    login,
    make_department,
    make_service,
    make_ticket,
    make_user,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _new_form(client, path="/tickets/new"):
    page = await client.get(path)
    assert page.status_code == 200
    token = csrf_token(page.text)
    client_token = re.search(r'name="client_token" value="([^"]+)"', page.text)
    return page, token, client_token.group(1) if client_token else ""


async def _post_new(client, data, files=None):
    page, token, client_token = await _new_form(client)
    # The prices the form showed travel with it, as a browser would send them.
    shown = dict(re.findall(r'name="(price_\d+)" value="(\d+)"', page.text))
    fields = {"_csrf_token": token, "client_token": client_token, **shown, **data}
    return await client.post("/tickets/new", data=fields, files=files)


async def test_pages_need_a_customer(client):
    answer = await client.get("/tickets")
    assert answer.status_code in (302, 303) and answer.headers["location"].startswith("/login")
    staff = await make_user(role="staff")
    await login(client, staff.email)
    assert (await client.get("/tickets")).status_code == 403
    assert (await client.get("/tickets/new")).status_code == 403


async def test_empty_list_invites_to_open_a_ticket(customer_client):
    page = await customer_client.get("/tickets")
    assert page.status_code == 200
    assert "You have no tickets yet" in page.text


async def test_new_ticket_form_shows_quota_reset_and_price(customer_client):
    user = customer_client.user
    free = await make_department(name="Hosting", free_tickets=2)
    paid = await make_department(name="Billing", free_tickets=1, ticket_price=1500)
    await make_department(name="Secret", public=False)
    await make_service(customer_id=user.id, name="vps-alpha")
    await make_service(customer_id=user.id, name="old-box", status="cancelled")
    await make_ticket(user, paid)
    page = await customer_client.get(f"/tickets/new?department={paid}")
    assert page.status_code == 200
    assert "Hosting" in page.text and "Billing" in page.text and "Secret" not in page.text
    assert "2 of 2 free tickets left; resets on" in page.text
    assert "0 of 1 free ticket left" in page.text
    assert "15.00 USD" in page.text
    assert f'name="price_{paid}" value="1500"' in page.text
    assert f'name="price_{free}"' not in page.text
    assert "vps-alpha \u00b7 active" in page.text and "old-box \u00b7 cancelled" in page.text
    assert "Not about a service" in page.text


async def test_open_free_ticket_with_attachment_then_listed(customer_client):
    user = customer_client.user
    department = await make_department(name="Hosting")
    service = await make_service(customer_id=user.id, name="vps-alpha")
    answer = await _post_new(
        customer_client,
        {"department_id": str(department), "service_id": str(service), "message": "Site down\nsince 9"},
        files=[("attachments", ("shot.png", PNG, "image/png"))],
    )
    assert answer.status_code in (302, 303), answer.text
    ticket = await Ticket.select().first()
    assert answer.headers["location"] == f"/tickets/{ticket['id']}"
    assert ticket["subject"] == "Site down" and ticket["service"] == service
    page = await customer_client.get(f"/tickets/{ticket['id']}")
    assert "Site down" in page.text and "shot.png" in page.text
    attachment = await Attachment.select().first()
    download = await customer_client.get(f"/attachments/{attachment['id']}")
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    listing = await customer_client.get("/tickets")
    assert f"/tickets/{ticket['id']}" in listing.text and "vps-alpha" in listing.text


async def test_double_submit_opens_one_ticket(customer_client):
    department = await make_department()
    _, token, client_token = await _new_form(customer_client)
    data = {"_csrf_token": token, "client_token": client_token, "department_id": str(department),
            "message": "Help"}
    first = await customer_client.post("/tickets/new", data=data)
    second = await customer_client.post("/tickets/new", data=data)
    assert first.headers["location"] == second.headers["location"]
    assert await Ticket.count() == 1


async def test_bad_input_keeps_what_was_typed_and_stores_nothing(customer_client):
    user = customer_client.user
    department = await make_department()
    other = await make_user()
    foreign_service = await make_service(customer_id=other.id)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024)
    exe = b"MZ\x90\x00" + b"\x00" * 100
    cases = [
        ({"message": "   "}, None, 422, "cannot be empty"),
        ({"message": "x" * 10_001}, None, 422, "the limit is 10,000"),
        ({"message": "Typed text", "service_id": str(foreign_service)}, None, 422, "one of your services"),
        ({"message": "Typed text"}, [("attachments", (f"f{i}.png", PNG, "image/png")) for i in range(6)],
         422, "at most 5 files"),
        ({"message": "Typed text"}, [("attachments", ("big.png", big, "image/png"))], 413, "larger than 5 MB"),
        ({"message": "Typed text"}, [("attachments", ("fake.png", b"GIF89a" + b"\x00" * 30, "image/png"))],
         422, "not a real .png"),
        ({"message": "Typed text"}, [("attachments", ("tool.zip", exe, "application/zip"))],
         422, "not a real .zip"),
        ({"message": "Typed text"}, [("attachments", ("tool.exe", exe, "application/octet-stream"))],
         422, "only .jpg, .png, .gif and .zip"),
    ]
    for data, files, status, message in cases:
        answer = await _post_new(customer_client, {"department_id": str(department), **data}, files)
        assert answer.status_code == status, (data, answer.status_code)
        assert message in answer.text
        if data["message"] == "Typed text":
            assert "Typed text</textarea>" in answer.text
    assert await Ticket.count() == 0
    assert await Attachment.count() == 0
    assert await Message.count() == 0
    _ = user


async def test_paid_ticket_asks_then_refuses_without_payments(customer_client):
    department = await make_department(free_tickets=0, ticket_price=900, currency="eur")
    answer = await _post_new(customer_client, {"department_id": str(department), "message": "Paid one"})
    assert answer.status_code == 402
    assert "9.00 EUR" in answer.text and "Paid one</textarea>" in answer.text
    answer = await _post_new(
        customer_client, {"department_id": str(department), "message": "Paid one", "accept_price": "yes"}
    )
    assert answer.status_code == 503
    assert "payments are" in answer.text.lower()
    assert await Ticket.count() == 0


async def test_price_changed_since_the_form_was_shown(customer_client):
    department = await make_department(free_tickets=0, ticket_price=900)
    _, token, client_token = await _new_form(customer_client)
    from billdesk.tables import Department

    await Department.update({Department.ticket_price: 1200}).where(Department.id == department)
    answer = await customer_client.post(
        "/tickets/new",
        data={"_csrf_token": token, "client_token": client_token, "department_id": str(department),
              "message": "Paid", "accept_price": "yes", f"price_{department}": "900"},
    )
    assert answer.status_code == 409 and "12.00 USD" in answer.text
    assert await Ticket.count() == 0


async def test_ticket_page_reply_close_archive_and_delete_reply(customer_client):
    user = customer_client.user
    staff = await make_user(role="admin", name="Alice Admin")
    department = await make_department()
    ticket_id = await make_ticket(user, department, message="Disk <script>alert(1)</script>")
    await reply_as_staff(ticket_id, as_current(staff), "Try rebooting", internal=False)
    await reply_as_staff(ticket_id, as_current(staff), "Secret staff note", internal=True)

    listing = await customer_client.get("/tickets")
    assert 'class="unread"' in listing.text and "New reply" in listing.text
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "Waiting for your reply" in page.text and "Try rebooting" in page.text
    assert "Alice Admin" in page.text
    assert "Secret staff note" not in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert (await Ticket.select(Ticket.unread_by_customer).first())["unread_by_customer"] is False

    token = csrf_token(page.text)
    empty = await customer_client.post(
        f"/tickets/{ticket_id}/reply", data={"_csrf_token": token, "body": "  "}
    )
    assert empty.status_code == 422 and "cannot be empty" in empty.text
    answer = await customer_client.post(
        f"/tickets/{ticket_id}/reply", data={"_csrf_token": token, "body": "Rebooted, still down"},
        files=[("attachments", ("log.gif", b"GIF89a" + b"\x00" * 20, "image/gif"))],
    )
    assert answer.status_code in (302, 303)
    reply = await Message.select().where(Message.body == "Rebooted, still down").first()
    assert await Attachment.count().where(Attachment.message == reply["id"]) == 1

    archive_open = await customer_client.post(f"/tickets/{ticket_id}/archive", data={"_csrf_token": token})
    assert archive_open.status_code == 409 and "Close it first" in archive_open.text

    closed = await customer_client.post(f"/tickets/{ticket_id}/close", data={"_csrf_token": token})
    assert closed.status_code in (302, 303)
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "solved and read-only" in page.text and "Send reply" not in page.text
    late = await customer_client.post(f"/tickets/{ticket_id}/reply", data={"_csrf_token": token, "body": "x"})
    assert late.status_code == 409

    deleted = await customer_client.post(
        f"/tickets/{ticket_id}/messages/{reply['id']}/delete", data={"_csrf_token": token}
    )
    assert deleted.status_code in (302, 303)
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "message deleted" in page.text and "Rebooted, still down" not in page.text

    archived = await customer_client.post(f"/tickets/{ticket_id}/archive", data={"_csrf_token": token})
    assert archived.status_code in (302, 303)
    assert f"/tickets/{ticket_id}" not in (await customer_client.get("/tickets")).text
    assert f"/tickets/{ticket_id}" in (await customer_client.get("/tickets?archived=1")).text


async def test_other_customers_tickets_and_attachments_are_absent(customer_client, app_client_factory):
    other = await make_user()
    department = await make_department()
    async with app_client_factory() as other_client:
        await login(other_client, other.email)
        page, token, client_token = await _new_form(other_client)
        await other_client.post(
            "/tickets/new",
            data={"_csrf_token": token, "client_token": client_token, "department_id": str(department),
                  "message": "Mine"},
            files=[("attachments", ("a.png", PNG, "image/png"))],
        )
    ticket = await Ticket.select().first()
    attachment = await Attachment.select().first()
    message = await Message.select().first()
    assert (await customer_client.get(f"/tickets/{ticket['id']}")).status_code == 404
    assert (await customer_client.get(f"/attachments/{attachment['id']}")).status_code == 404
    page = await customer_client.get("/tickets")
    token = csrf_token(page.text)
    for path in (f"/tickets/{ticket['id']}/reply", f"/tickets/{ticket['id']}/close",
                 f"/tickets/{ticket['id']}/messages/{message['id']}/delete"):
        answer = await customer_client.post(path, data={"_csrf_token": token, "body": "x"})
        assert answer.status_code == 404, path
    assert (await Ticket.select(Ticket.status).first())["status"] == "in_progress"


async def test_filters_and_pagination(customer_client):
    user = customer_client.user
    first = await make_department(name="Hosting", free_tickets=None)
    second = await make_department(name="Domains", free_tickets=None)
    for n in range(27):
        await make_ticket(user, first, message=f"Hosting issue {n}")
    solved = await make_ticket(user, second, message="Domain issue")
    await close_ticket(solved, as_current(user))
    page1 = await customer_client.get("/tickets")
    assert page1.text.count('class="row-link"') == 25 and "Domain issue" in page1.text
    next_url = re.search(r'href="([^"]+)" rel="next"', page1.text).group(1).replace("&amp;", "&")
    page2 = await customer_client.get(next_url)
    assert page2.text.count('class="row-link"') == 3 and 'rel="first"' in page2.text
    assert 'rel="next"' not in page2.text and "Domain issue" not in page2.text
    only_solved = await customer_client.get("/tickets?status=solved")
    assert "Domain issue" in only_solved.text and "Hosting issue" not in only_solved.text
    by_department = await customer_client.get(f"/tickets?department={second}")
    assert "Domain issue" in by_department.text
    assert by_department.text.count('class="row-link"') == 1
    nothing = await customer_client.get("/tickets?status=awaiting_payment")
    assert "No tickets match these filters" in nothing.text


async def test_support_switched_off(customer_client):
    user = customer_client.user
    department = await make_department()
    ticket_id = await make_ticket(user, department, message="Old question")
    await Setting.insert(Setting(key="support_enabled", value="false"))
    listing = await customer_client.get("/tickets")
    assert "Support is switched off" in listing.text and "Old question" in listing.text
    new_page = await customer_client.get("/tickets/new")
    assert "Support is switched off" in new_page.text and 'name="message"' not in new_page.text
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "Old question" in page.text and "Send reply" not in page.text
    token = csrf_token(page.text)
    refused = await customer_client.post(
        f"/tickets/{ticket_id}/reply", data={"_csrf_token": token, "body": "Still there?"}
    )
    assert refused.status_code == 403 and "Still there?</textarea>" in refused.text
    opened = await customer_client.post(
        "/tickets/new", data={"_csrf_token": token, "department_id": str(department), "message": "New"}
    )
    assert opened.status_code == 403 and "New</textarea>" in opened.text
    assert await Ticket.count() == 1 and await Message.count() == 1


async def test_notifications_page_and_mark_read(customer_client):
    user = customer_client.user
    admin = await make_user(role="admin")
    ticket_id = await make_ticket(user, await make_department(), message="Need help")
    await reply_as_staff(ticket_id, as_current(admin), "Done", internal=False)
    await close_ticket(ticket_id, as_current(admin))
    page = await customer_client.get("/notifications")
    assert page.status_code == 200
    assert "Support replied on" in page.text and "marked solved" in page.text
    answer = await customer_client.post("/notifications/read", data={"_csrf_token": csrf_token(page.text)})
    assert answer.status_code in (302, 303)
    assert await Notification.count().where(Notification.read == False) == 0  # noqa: E712
    empty_page = await customer_client.get("/notifications")
    assert "Mark all as read" not in empty_page.text


async def test_the_new_ticket_form_offers_suspended_and_cancelled_services_with_their_status(
    customer_client,
):
    user = customer_client.user
    department = await make_department()
    suspended = await make_service(customer_id=user.id, name="web-7", status="suspended")
    await make_service(customer_id=user.id, name="old-vps", status="cancelled")
    page = await customer_client.get("/tickets/new")
    assert "web-7 \u00b7 suspended" in page.text and "old-vps \u00b7 cancelled" in page.text
    answer = await _post_new(
        customer_client,
        {"department_id": str(department), "service_id": str(suspended),
         "message": "Why is my server suspended?"},
    )
    assert answer.status_code == 302
    shown = await customer_client.get(answer.headers["location"])
    assert "web-7 (suspended)" in shown.text


async def test_words_and_counts_read_right(customer_client):
    user = customer_client.user
    always_paid = await make_department(name="Premium", free_tickets=0, ticket_price=4900)
    free = await make_department(name="Hosting", free_tickets=3)
    form = await customer_client.get("/tickets/new")
    assert "Every ticket here costs 49.00 USD." in form.text
    assert "0 of 0" not in form.text and "No free tickets are left" not in form.text
    await make_ticket(user, free)
    listing = await customer_client.get("/tickets")
    assert "1 tickets" not in listing.text
    assert "Answers" not in listing.text and "Replies" in listing.text
    # A refused form says its problem once in the list of problems and once at the field,
    # not a third time in a banner.
    answer = await _post_new(customer_client, {"department_id": str(free), "message": "  "})
    assert answer.status_code == 422
    assert answer.text.count("cannot be empty") == 2 and "flash--error" not in answer.text
    _ = always_paid


async def test_while_support_is_off_a_waiting_ticket_does_not_point_at_a_missing_reply_box(
    customer_client,
):
    user = customer_client.user
    department = await make_department()
    ticket_id = await make_ticket(user, department)
    staff = await make_user(role="admin", name="Alice Admin")
    await reply_as_staff(ticket_id=ticket_id, author=as_current(staff), body="Try now.",
                         internal=False, files=[])
    await Setting.insert(Setting(key="support_enabled", value="false"))
    page = await customer_client.get(f"/tickets/{ticket_id}")
    assert "Reply below" not in page.text and 'name="body"' not in page.text
    assert "Replies wait until support is back on" in page.text
