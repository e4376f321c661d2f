"""Merging a duplicate ticket: its messages and files join the other ticket in time order,
its charge and history stay, it is solved with a link; refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

from billdesk import jobs, open_counts, outbox
from billdesk.attachments import Upload
from billdesk.tables import Attachment, Charge, Message, Notification, OutgoingMail, Ticket
from billdesk.tickets import close_ticket, open_ticket, reply_as_customer, reply_as_staff
from tests.desk_support import bearer
from tests.factories import (
    MadeUser,
    add_member,
    as_current,
    csrf_token,
    login,
    make_department,
    make_user,
)
from tests.payment_helpers import make_charge

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _open(customer: MadeUser, department: int, message: str, files=()) -> int:
    opened = await open_ticket(
        customer=as_current(customer), department_id=department, service_id=None,
        message=message, files=list(files), accept_price=None, client_token=None,
    )
    return opened.ticket_id


async def _desk():
    department = await make_department(name="Hosting", free_tickets=None)
    customer = await make_user(name="Carla Customer")
    agent = await make_user(role="staff", name="Sam Staff")
    await add_member(department_id=department, user_id=agent.id)
    return department, customer, agent


async def _bodies(ticket_id: int) -> list[str]:
    rows = await Message.select(Message.body).where(Message.ticket == ticket_id).order_by(
        Message.created_at
    ).order_by(Message.id)
    return [row["body"] for row in rows]


async def test_messages_files_and_history_move_in_time_order_and_the_charge_stays(client, clock):
    department, customer, agent = await _desk()
    source = await _open(customer, department, "Site down\nSee the screenshot",
                         [Upload("shot.png", PNG)])
    clock.advance(timedelta(minutes=10))
    target = await _open(customer, department, "Mail bounces since noon")
    clock.advance(timedelta(minutes=10))
    await reply_as_staff(source, as_current(agent), "Restarting the web server.")
    clock.advance(timedelta(minutes=10))
    await reply_as_staff(target, as_current(agent), "Same host as the site?", internal=True)
    clock.advance(timedelta(minutes=10))
    await reply_as_customer(ticket_id=source, customer=as_current(customer),
                            body="Still down, and the mail xylophone error too", files=[])
    charge = await make_charge(ticket_id=source, customer_id=customer.id,
                               department_id=department, status="succeeded")
    assert (await open_counts.open_by_department([department]))[department] == 2
    headers = await bearer(agent)

    merged = await client.post(f"/api/v1/desk/tickets/{source}/merge",
                               json={"into_id": target}, headers=headers)

    assert merged.status_code == 200, merged.text
    answer = merged.json()
    assert answer["id"] == target and answer["merged_from_ids"] == [source]
    assert [m["body"] for m in answer["messages"]] == [
        "Site down\nSee the screenshot",
        "Mail bounces since noon",
        "Restarting the web server.",
        "Same host as the site?",
        "Still down, and the mail xylophone error too",
    ]
    assert [a["filename"] for a in answer["messages"][0]["attachments"]] == ["shot.png"]
    assert await Attachment.count().where(Attachment.ticket == target) == 1
    # The customer's reply is now the newest word on the target: it waits for support.
    assert answer["status"] == "in_progress" and answer["last_author_role"] == "customer"
    assert answer["answers"] == 3  # the merged opening message and two public replies
    assert answer["last_message_at"] == "2026-11-02T09:40:00Z"
    assert answer["events"][-1]["kind"] == "merged_from"
    assert answer["events"][-1]["new_value"] == f"#{source}"
    assert answer["events"][-1]["actor"]["name"] == "Sam Staff"

    old = (await client.get(f"/api/v1/desk/tickets/{source}", headers=headers)).json()
    assert old["status"] == "solved" and old["merged_into_id"] == target
    assert old["messages"] == [] and old["answers"] == 0
    kinds = [(e["kind"], e["old_value"], e["new_value"]) for e in old["events"]]
    assert kinds[-2:] == [("status", "in_progress", "solved"), ("merged_into", "", f"#{target}")]
    # The charge paid for the merged ticket and stays with it.
    assert (await Charge.select(Charge.ticket).where(Charge.id == charge).first()) == {
        "ticket": source
    }
    assert (await open_counts.open_by_department([department]))[department] == 1

    # Searches find the moved words under the target only, for staff and the customer.
    found = await client.get("/api/v1/desk/tickets?q=xylophone&status=in_progress,solved",
                             headers=headers)
    assert [t["id"] for t in found.json()["items"]] == [target]
    mine = await client.get("/api/v1/tickets?q=xylophone", headers=await bearer(customer))
    assert [t["id"] for t in mine.json()["items"]] == [target]
    theirs = (await client.get(f"/api/v1/tickets/{source}", headers=await bearer(customer))).json()
    assert theirs["merged_into_id"] == target and theirs["messages"] == []


async def test_refusals_name_the_problem_and_change_nothing(client):
    department, customer, agent = await _desk()
    elsewhere = await make_department(name="Domains", free_tickets=None)
    source = await _open(customer, department, "Site down")
    other_customers = await _open(await make_user(), department, "Their ticket")
    solved = await _open(customer, department, "Old question")
    await close_ticket(solved, as_current(agent))
    other_department = await _open(customer, elsewhere, "Domain renewal")
    headers = await bearer(agent)

    async def merge(ticket_id: int, into_id: object):
        return await client.post(f"/api/v1/desk/tickets/{ticket_id}/merge",
                                 json={"into_id": into_id}, headers=headers)

    itself = await merge(source, source)
    assert itself.status_code == 422
    assert itself.json()["errors"][0]["field"] == "into_id"
    across = await merge(source, other_customers)
    assert across.status_code == 422 and "another customer" in across.json()["detail"]
    into_solved = await merge(source, solved)
    assert into_solved.status_code == 409 and into_solved.json()["code"] == "ticket_closed"
    from_solved = await merge(solved, source)
    assert from_solved.status_code == 409 and from_solved.json()["code"] == "ticket_closed"
    not_mine = await merge(source, other_department)
    assert not_mine.status_code == 404 and not_mine.json()["errors"][0]["field"] == "into_id"
    assert (await merge(other_department, source)).status_code == 404
    assert (await merge(source, "#2")).status_code == 422

    assert await _bodies(source) == ["Site down"]
    assert await _bodies(other_customers) == ["Their ticket"]
    rows = await Ticket.select(Ticket.id, Ticket.status, Ticket.merged_into).where(
        Ticket.id.is_in([source, other_customers, other_department])
    )
    assert all(r["status"] == "in_progress" and r["merged_into"] is None for r in rows)


async def test_the_desk_page_merges_and_lands_on_the_target(client):
    department, customer, agent = await _desk()
    source = await _open(customer, department, "Site down again")
    target = await _open(customer, department, "Site down")
    other = await _open(await make_user(), department, "Someone else's")
    await login(client, agent.email)
    page = await client.get(f"/desk/tickets/{source}")
    assert "Merge into…" in page.text and f'<option value="{target}">' in page.text
    token = csrf_token(page.text)

    refused = await client.post(f"/desk/tickets/{source}/merge",
                                data={"into_id": str(other), "_csrf_token": token})
    assert refused.status_code == 422
    assert 'id="f-into_id-error"' in refused.text and f'value="{other}"' in refused.text

    merged = await client.post(f"/desk/tickets/{source}/merge",
                               data={"into_id": f"#{target}", "_csrf_token": token})
    assert merged.status_code == 302
    assert merged.headers["location"] == f"/desk/tickets/{target}"
    landed = await client.get(merged.headers["location"])
    assert f"Ticket #{source} was merged into this ticket." in landed.text
    assert f'href="/desk/tickets/{source}">#{source}</a>' in landed.text  # merged from
    assert "Site down again" in landed.text
    old = await client.get(f"/desk/tickets/{source}")
    assert f'data-merged-into="{target}"' in old.text and "Merge into…" not in old.text


async def test_channels_hear_a_merge_not_a_solved_ticket(clock):
    department, customer, agent = await _desk()
    source = await _open(customer, department, "Site down again")
    target = await _open(customer, department, "Site down")
    await reply_as_staff(source, as_current(agent), "Looking")  # support worked on it
    heard: list[dict] = []

    @outbox.subscriber("test-merge")
    async def record(happening: dict) -> None:
        heard.append(happening)

    try:
        await jobs.drain()
        heard.clear()
        from billdesk.tickets import merge_ticket

        await merge_ticket(actor=as_current(agent), ticket_id=source, into_id=target)
        await jobs.drain()
    finally:
        outbox._subscribers.pop("test-merge", None)
    merges = [h for h in heard if h["type"] == "ticket.merged"]
    assert [(h["ticket_id"], h["into_id"]) for h in merges] == [(source, target)]
    # No "your ticket was solved" or "rate us" mail for a ticket that lives on elsewhere.
    assert await OutgoingMail.count().where(
        OutgoingMail.kind.is_in(["ticket_solved", "rating_request"])
    ) == 0
    told = await Notification.select(Notification.text).where(
        Notification.user == customer.id
    ).order_by(Notification.id, ascending=False).first()
    assert told["text"] == f"#{source} was merged into #{target}: Site down"
