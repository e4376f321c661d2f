"""Outgoing mail against the session's SMTP server on loopback: who gets what, once,
threaded, with each person's choices; the log; SMTP down and back; admin retry."""

from __future__ import annotations

from datetime import timedelta

from billdesk import jobs
from billdesk.queues import assign_ticket
from billdesk.tables import Job, OutgoingMail
from billdesk.tickets import close_ticket, reply_as_customer
from tests.factories import (
    add_member,
    as_current,
    csrf_token,
    login,
    make_department,
    make_ticket,
    make_token,
    make_user,
)
from tests.support.mailbox import html_of, text_of


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def desk_world():
    customer = await make_user(name="Alice Example")
    agent = await make_user(role="staff", name="Ada Staff")
    department = await make_department(free_tickets=None, name="Technical support")
    await add_member(department_id=department, user_id=agent.id)
    ticket = await make_ticket(customer, department, "My server is down\nSince noon.")
    return customer, agent, department, ticket


async def test_a_staff_reply_mails_the_customer_once_with_the_threading_headers(client, mailbox):
    customer, agent, _, ticket = await desk_world()
    await jobs.drain()
    [new_ticket] = mailbox.to(agent.email)  # the staff of the department heard of the ticket
    assert f"[#{ticket}] New ticket in Technical support" in new_ticket["Subject"]
    assert mailbox.to(customer.email) == []  # opened on the web: no acknowledgement
    mailbox.clear()

    answer = await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "We restarted it. <b>Sorry</b> & thanks.", "internal": False},
        headers=bearer(await make_token(agent)),
    )
    assert answer.status_code == 201, answer.text
    assert mailbox.raw() == []  # nothing before the commit's jobs run
    await jobs.drain()
    await jobs.drain()

    [mail] = mailbox.messages()
    assert customer.email in str(mail["To"]) and "Alice Example" in str(mail["To"])
    assert mail["Subject"] == f"[#{ticket}] My server is down"
    assert mail["From"] == "Example Hosting <support@hosting.test>"
    assert mail["Reply-To"] == "Example Hosting <support@hosting.test>"
    assert mail["Auto-Submitted"] == "auto-generated"
    thread = f"<ticket-{ticket}@hosting.test>"
    assert mail["In-Reply-To"] == thread
    assert thread in mail["References"].split()
    message_id = mail["Message-ID"]
    assert message_id.startswith(f"<billdesk.{ticket}.") and message_id.endswith("@hosting.test>")
    text = text_of(mail)
    assert "Ada Staff of support answered your ticket" in text
    assert "We restarted it. <b>Sorry</b> & thanks." in text
    assert f"http://127.0.0.1:8000/tickets/{ticket}" in text
    html = html_of(mail)
    assert "We restarted it. &lt;b&gt;Sorry&lt;/b&gt; &amp; thanks." in html
    assert f'href="http://127.0.0.1:8000/tickets/{ticket}"' in html

    [logged] = await OutgoingMail.select().where(OutgoingMail.kind == "staff_reply")
    assert (logged["status"], logged["tries"], logged["ticket"]) == ("sent", 1, ticket)
    assert f"<{logged['message_id']}>" == message_id
    # A second reply is a second mail in the same thread, with its own Message-ID.
    await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "Also, disk cleaned."},
        headers=bearer(await make_token(agent)),
    )
    await jobs.drain()
    first, second = mailbox.messages()
    assert second["Message-ID"] != first["Message-ID"]
    assert second["In-Reply-To"] == thread


async def test_an_internal_note_and_a_refused_reply_mail_nobody(client, mailbox):
    _, agent, _, ticket = await desk_world()
    await jobs.drain()
    mailbox.clear()
    headers = bearer(await make_token(agent))
    note = await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "Customer is on the old plan", "internal": True},
        headers=headers,
    )
    assert note.status_code == 201
    blank = await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages", json={"body": "   "}, headers=headers
    )
    assert blank.status_code == 422
    await jobs.drain()
    assert mailbox.raw() == []
    assert await OutgoingMail.count() == 1  # the new-ticket mail to the agent, nothing since


async def test_customer_replies_reach_the_assignee_and_closing_tells_the_customer(mailbox):
    customer, agent, department, ticket = await desk_world()
    other = await make_user(role="staff")
    await add_member(department_id=department, user_id=other.id)
    await reply_as_customer(
        ticket_id=ticket, customer=as_current(customer), body="Any news?", files=[]
    )
    await jobs.drain()
    # Nobody is assigned: nobody is told of the reply.
    assert not [m for m in mailbox.messages() if "Customer replied" in m["Subject"]]
    await assign_ticket(actor=as_current(agent), ticket_id=ticket, assignee_id=agent.id)
    mailbox.clear()
    await reply_as_customer(
        ticket_id=ticket, customer=as_current(customer), body="Still down!", files=[]
    )
    await close_ticket(ticket, as_current(agent))
    await jobs.drain()
    [reply] = mailbox.to(agent.email)
    assert reply["Subject"] == f"[#{ticket}] Customer replied: My server is down"
    assert "Still down!" in text_of(reply)
    assert f"http://127.0.0.1:8000/desk/tickets/{ticket}" in text_of(reply)
    assert mailbox.to(other.email) == []
    [solved, rating] = sorted(mailbox.to(customer.email), key=lambda m: "How did" in m["Subject"])
    assert solved["Subject"] == f"[#{ticket}] Solved: My server is down"
    assert rating["Subject"] == f"[#{ticket}] How did we do? My server is down"  # docs/sla.md
    assert "http://127.0.0.1:8000/tickets/new" in text_of(solved)


async def test_a_customer_closing_their_own_ticket_is_not_mailed(mailbox):
    customer, _, _, ticket = await desk_world()
    await close_ticket(ticket, as_current(customer))
    await jobs.drain()
    # Only the request for a rating (docs/sla.md), not "solved".
    assert [m["Subject"] for m in mailbox.to(customer.email)] == [
        f"[#{ticket}] How did we do? My server is down"
    ]


async def test_each_person_chooses_their_mails_on_the_account_page(
    client, app_client_factory, mailbox
):
    customer, agent, department, _ = await desk_world()
    await jobs.drain()
    mailbox.clear()
    await login(client, agent.email)
    page = await client.get("/account")
    assert "A new ticket arrives in one of my departments" in page.text
    assert "Support answers one of my tickets" not in page.text  # a customer's choice
    saved = await client.post(
        "/account/mail-preferences",
        data={"customer_reply": "1", "paid_ticket": "1", "_csrf_token": csrf_token(page.text)},
    )
    assert saved.status_code == 200 and "Your mail choices are saved" in saved.text
    token = await make_token(customer)
    turned_off = await client.patch(
        "/api/v1/me/mail-preferences",
        json={"choices": {"staff_reply": False}},
        headers=bearer(token),
    )
    assert turned_off.json()["choices"] == {
        "staff_reply": False,
        "ticket_solved": True,
        "payment_failed": True,
        "inactivity_reminder": True,
        "rating_request": True,
    }
    wrong = await client.patch(
        "/api/v1/me/mail-preferences",
        json={"choices": {"new_ticket": False}},
        headers=bearer(token),
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "new_ticket"

    second = await make_ticket(customer, department, "Mail is slow")
    await client.post(
        f"/api/v1/desk/tickets/{second}/messages",
        json={"body": "Checking"},
        headers=bearer(await make_token(agent)),
    )
    await close_ticket(second, as_current(agent))
    await jobs.drain()
    assert mailbox.to(agent.email) == []  # new_ticket is off
    # staff_reply is off; ticket_solved and rating_request are on
    [solved] = [m for m in mailbox.to(customer.email) if "How did we do" not in m["Subject"]]
    assert "Solved" in solved["Subject"]


async def test_a_department_inbound_address_is_where_replies_go(client, mailbox):
    customer, agent, department, ticket = await desk_world()
    admin = await make_user(role="admin")
    changed = await client.patch(
        f"/api/v1/admin/departments/{department}",
        json={"inbound_address": "Tech@Hosting.test"},
        headers=bearer(await make_token(admin)),
    )
    assert changed.status_code == 200 and changed.json()["inbound_address"] == "tech@hosting.test"
    other = await make_department()
    taken = await client.patch(
        f"/api/v1/admin/departments/{other}",
        json={"inbound_address": "tech@hosting.test"},
        headers=bearer(await make_token(admin)),
    )
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "inbound_address"
    await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "On it"},
        headers=bearer(await make_token(agent)),
    )
    await jobs.drain()
    [mail] = mailbox.to(customer.email)
    assert mail["Reply-To"] == "Example Hosting <tech@hosting.test>"


async def test_smtp_down_mails_wait_then_go_once_and_a_failed_one_is_sent_by_an_admin(
    client, mailbox, clock
):
    customer, agent, _, ticket = await desk_world()
    await jobs.drain()
    mailbox.clear()
    mailbox.stop()
    await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "First answer"},
        headers=bearer(await make_token(agent)),
    )
    await jobs.drain()
    [waiting] = await OutgoingMail.select().where(OutgoingMail.kind == "staff_reply")
    assert (waiting["status"], waiting["tries"]) == ("queued", 1)
    assert waiting["last_error"]  # why it did not go, for the admin
    clock.advance(timedelta(minutes=1))
    await jobs.drain()
    retried = await OutgoingMail.select().where(OutgoingMail.id == waiting["id"]).first()
    assert (retried["status"], retried["tries"]) == ("queued", 2)
    assert mailbox.raw() == []

    mailbox.start()  # the server is back
    clock.advance(timedelta(minutes=3))
    await jobs.drain()
    clock.advance(timedelta(hours=3))
    await jobs.drain()
    [mail] = mailbox.to(customer.email)
    assert "First answer" in text_of(mail)
    [sent] = await OutgoingMail.select().where(OutgoingMail.id == waiting["id"])
    assert sent["status"] == "sent"

    # Down for longer than all the tries: failed, visible, and an admin sends it again.
    mailbox.clear()
    mailbox.stop()
    await client.post(
        f"/api/v1/desk/tickets/{ticket}/messages",
        json={"body": "Second answer"},
        headers=bearer(await make_token(agent)),
    )
    for _ in range(10):
        await jobs.drain()
        clock.advance(timedelta(hours=2))
    [failed] = await OutgoingMail.select().where(OutgoingMail.status == "failed")
    assert failed["tries"] == 8
    job = await Job.select().where(Job.id == failed["job_id"]).first()
    assert job["status"] == "failed"

    admin = await make_user(role="admin")
    await login(client, admin.email)
    page = await client.get("/admin/mail?status=failed")
    assert page.status_code == 200
    assert f'data-mail="{failed["id"]}"' in page.text and "Send again" in page.text
    mailbox.start()
    retried = await client.post(
        f"/admin/mail/{failed['id']}/retry",
        data={"_csrf_token": csrf_token(page.text), "back": "/admin/mail?status=failed"},
    )
    assert retried.status_code in (301, 302, 303)
    await jobs.drain()
    [mail] = mailbox.to(customer.email)
    assert "Second answer" in text_of(mail)
    again = await OutgoingMail.select().where(OutgoingMail.id == failed["id"]).first()
    assert (again["status"], again["tries"]) == ("sent", 9)
    clock.advance(timedelta(hours=5))
    await jobs.drain()
    assert len(mailbox.to(customer.email)) == 1  # never twice


async def test_admins_see_the_mail_log_and_the_caught_mails(client, mailbox):
    _, agent, _, ticket = await desk_world()
    await jobs.drain()
    admin = await make_user(role="admin")
    token = bearer(await make_token(admin))
    listed = await client.get("/api/v1/admin/mail", headers=token)
    [item] = listed.json()["items"]
    assert (item["kind"], item["to"], item["ticket_id"], item["status"], item["tries"]) == (
        "new_ticket",
        agent.email,
        ticket,
        "sent",
        1,
    )
    not_failed = await client.post(f"/api/v1/admin/mail/{item['id']}/retry", headers=token)
    assert not_failed.status_code == 409 and not_failed.json()["code"] == "invalid_transition"
    assert (await client.get("/api/v1/admin/mail?status=lost", headers=token)).status_code == 422
    staff_token = bearer(await make_token(agent))
    assert (await client.get("/api/v1/admin/mail", headers=staff_token)).status_code == 403

    await login(client, admin.email)
    page = await client.get("/admin/mail")
    assert "Caught by the demo mail catcher" in page.text
    assert f"[#{ticket}] New ticket in Technical support" in page.text
    name = page.text.split('data-caught="')[1].split('"')[0]
    caught = await client.get(f"/admin/mail/caught/{name}")
    assert caught.status_code == 200
    assert "A new ticket arrived in Technical support" in caught.text
    assert 'sandbox=""' in caught.text
    assert (await client.get("/admin/mail/caught/..%2Fsecret_key")).status_code == 404


async def test_the_openapi_document_lists_the_mail_and_password_endpoints(client):
    document = (await client.get("/api/docs/openapi.json")).json()
    paths = document["paths"]
    for path, method in [
        ("/api/v1/admin/mail", "get"),
        ("/api/v1/admin/mail/inbound", "get"),
        ("/api/v1/admin/mail/{mail_id}/retry", "post"),
        ("/api/v1/admin/customers/{external_id}/invite", "post"),
        ("/api/v1/me/mail-preferences", "get"),
        ("/api/v1/me/mail-preferences", "patch"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not documented"
    assert "accept_price" in str(document["components"]).split("PayRequest", 1)[1][:600]
