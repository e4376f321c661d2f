"""The desk's JSON API: queues with their filters, the ticket, replies, actions, bulk, templates,
and every refused input of the desk: a clear error naming the field, nothing changed."""

from __future__ import annotations

from billdesk.tables import Message, ReplyTemplate, Ticket, TicketEvent
from tests.desk_support import bearer, make_desk_ticket, make_world
from tests.factories import add_member, login, make_department, make_service, make_user


async def _ticket(ticket_id: int) -> dict:
    return await Ticket.select().where(Ticket.id == ticket_id).first()


async def _events(ticket_id: int) -> list[dict]:
    return await TicketEvent.select().where(TicketEvent.ticket == ticket_id).order_by(TicketEvent.id)


def _field(answer, field: str) -> str:
    body = answer.json()
    assert body["code"] == "validation_error", body
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert field in fields, body
    return fields[field]


async def test_queue_shows_only_open_paid_tickets_of_my_departments(client):
    world = await make_world()
    await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                           status="awaiting_payment", subject="Unpaid")
    await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                           removed=True, subject="Trashed")
    solved = await make_desk_ticket(customer_id=world.customer.id,
                                    department_id=world.department, status="solved")
    answer = await client.get("/api/v1/desk/tickets", headers=await bearer(world.staff))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [item["id"] for item in body["items"]] == [world.ticket]
    assert body["total"] == 1 and body["next_cursor"] is None
    item = body["items"][0]
    assert item["department"] == {"id": world.department, "name": "Hosting"}
    assert item["customer"]["name"] == "Carla Customer"
    assert item["created_at"].endswith("Z") and item["unread"] is True
    solved_only = await client.get(
        "/api/v1/desk/tickets?status=solved", headers=await bearer(world.staff)
    )
    assert [item["id"] for item in solved_only.json()["items"]] == [solved]
    everything = await client.get("/api/v1/desk/tickets", headers=await bearer(world.admin))
    assert {item["id"] for item in everything.json()["items"]} == {world.ticket, world.other_ticket}


async def test_queue_filters_sort_and_cursor(client):
    world = await make_world()
    headers = await bearer(world.staff)
    other_customer = await make_user(role="customer")
    service = await make_service(customer_id=other_customer.id)
    mine = await make_desk_ticket(customer_id=other_customer.id, department_id=world.department,
                                  subject="Mail bounces", assignee_id=world.staff.id,
                                  service_id=service, minutes_ago=30)
    waiting = await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                                     subject="DNS question", status="waiting_for_reply",
                                     minutes_ago=10)

    async def ids(query: str) -> list[int]:
        answer = await client.get(f"/api/v1/desk/tickets?{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids("") == [world.ticket, waiting, mine]
    assert await ids("sort=created_at") == [world.ticket, waiting, mine]
    assert await ids(f"id={mine}") == [mine]
    assert await ids("assignee=me") == [mine]
    assert await ids(f"assignee={world.staff.id}") == [mine]
    assert await ids("assignee=none") == [world.ticket, waiting]
    assert await ids(f"customer={other_customer.id}") == [mine]
    assert await ids(f"service={service}") == [mine]
    assert await ids("q=dns") == [waiting]
    assert await ids("status=waiting_for_reply") == [waiting]
    assert await ids(f"department={world.other_department}") == []
    first = await client.get("/api/v1/desk/tickets?limit=2", headers=headers)
    body = first.json()
    assert [item["id"] for item in body["items"]] == [world.ticket, waiting]
    assert body["total"] == 3 and body["next_cursor"]
    rest = await client.get(
        f"/api/v1/desk/tickets?limit=2&cursor={body['next_cursor']}", headers=headers
    )
    assert [item["id"] for item in rest.json()["items"]] == [mine]
    assert rest.json()["next_cursor"] is None
    bad = await client.get("/api/v1/desk/tickets?status=lost&sort=size", headers=headers)
    assert bad.status_code == 422
    _field(bad, "status")


async def test_ticket_shows_notes_customer_services_history_and_marks_read(client):
    world = await make_world()
    headers = await bearer(world.staff)
    await make_service(customer_id=world.customer.id, name="VPS-7")
    note = await client.post(f"/api/v1/desk/tickets/{world.ticket}/messages",
                             json={"body": "Customer is on the old plan", "internal": True},
                             headers=headers)
    assert note.status_code == 201, note.text
    assert note.json()["internal"] is True
    row = await _ticket(world.ticket)
    assert row["status"] == "in_progress" and row["unread_by_customer"] is False
    changed = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                                 json={"priority": "urgent", "assignee_id": world.staff.id},
                                 headers=headers)
    assert changed.status_code == 200, changed.text
    answer = await client.get(f"/api/v1/desk/tickets/{world.ticket}", headers=headers)
    body = answer.json()
    assert [m["internal"] for m in body["messages"]] == [False, True]
    assert body["customer"]["services"][0]["name"] == "VPS-7"
    assert body["customer"]["recent_tickets"] == []  # the other ticket is another department's
    assert {(e["kind"], e["new_value"]) for e in body["events"]} == {
        ("priority", "urgent"), ("assignee", "Sam Staff")
    }
    assert body["events"][0]["actor"]["name"] == "Sam Staff"
    assert body["priority"] == "urgent" and body["assignee"]["id"] == world.staff.id
    assert (await _ticket(world.ticket))["unread_by_staff"] is False


async def test_public_reply_waits_for_the_customer_and_close_solves(client):
    world = await make_world()
    headers = await bearer(world.staff)
    reply = await client.post(f"/api/v1/desk/tickets/{world.ticket}/messages",
                              json={"body": "Restarted it"}, headers=headers)
    assert reply.status_code == 201, reply.text
    row = await _ticket(world.ticket)
    assert row["status"] == "waiting_for_reply" and row["unread_by_customer"] is True
    closed = await client.post(f"/api/v1/desk/tickets/{world.ticket}/close", headers=headers)
    assert closed.status_code == 200 and closed.json()["status"] == "solved"
    kinds = [(e["kind"], e["new_value"]) for e in await _events(world.ticket)]
    assert ("status", "solved") in kinds


async def test_reply_to_a_solved_ticket_is_refused(client):
    world = await make_world()
    solved = await make_desk_ticket(customer_id=world.customer.id,
                                    department_id=world.department, status="solved")
    answer = await client.post(f"/api/v1/desk/tickets/{solved}/messages",
                               json={"body": "Hello?"}, headers=await bearer(world.staff))
    assert answer.status_code == 409
    assert answer.json()["code"] == "ticket_closed"
    assert answer.json()["errors"][0]["field"] == "body"
    assert await Message.count().where(Message.ticket == solved) == 1


async def test_assigning_outside_the_department_is_refused(client):
    world = await make_world()
    answer = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                                json={"assignee_id": world.other_staff.id, "priority": "high"},
                                headers=await bearer(world.staff))
    assert answer.status_code == 422
    assert "department" in _field(answer, "assignee_id")
    row = await _ticket(world.ticket)
    assert row["assignee"] is None and row["priority"] == "normal"  # all or nothing
    assert await _events(world.ticket) == []


async def test_transfer_to_an_inactive_department_is_refused(client):
    world = await make_world()
    closed_down = await make_department(name="Legacy", active=False)
    headers = await bearer(world.staff)
    answer = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                                json={"department_id": closed_down}, headers=headers)
    assert answer.status_code == 422
    assert "active" in _field(answer, "department_id")
    assert (await _ticket(world.ticket))["department"] == world.department
    moved = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                               json={"department_id": world.other_department}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["department"]["id"] == world.other_department
    # Now another department's ticket: out of this staff member's sight.
    assert (await client.get(f"/api/v1/desk/tickets/{world.ticket}", headers=headers)).status_code == 404


async def test_transfer_drops_an_assignee_who_is_not_in_the_new_department(client):
    world = await make_world()
    headers = await bearer(world.admin)
    await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                       json={"assignee_id": world.staff.id}, headers=headers)
    answer = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                                json={"department_id": world.other_department}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["assignee"] is None
    assert answer.json()["department"]["id"] == world.other_department
    kinds = [e["kind"] for e in await _events(world.ticket)]
    assert kinds == ["assignee", "assignee", "department"]


async def test_bad_priority_is_refused(client):
    world = await make_world()
    answer = await client.patch(f"/api/v1/desk/tickets/{world.ticket}",
                                json={"priority": "asap"}, headers=await bearer(world.staff))
    assert answer.status_code == 422
    _field(answer, "priority")


async def test_bulk_close_says_what_changed_and_what_was_skipped(client):
    world = await make_world()
    second = await make_desk_ticket(customer_id=world.customer.id, department_id=world.department)
    solved = await make_desk_ticket(customer_id=world.customer.id,
                                    department_id=world.department, status="solved")
    answer = await client.post("/api/v1/desk/tickets/bulk",
                               json={"action": "close", "ticket_ids": [world.ticket, second, solved]},
                               headers=await bearer(world.staff))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "updated": [world.ticket, second],
        "skipped": [{"id": solved, "reason": "already solved"}],
    }
    assert (await _ticket(second))["status"] == "solved"


async def test_bulk_assign_skips_tickets_of_departments_the_assignee_is_not_in(client):
    world = await make_world()
    await add_member(department_id=world.other_department, user_id=world.staff.id)
    answer = await client.post(
        "/api/v1/desk/tickets/bulk",
        json={"action": "assign", "ticket_ids": [world.ticket, world.other_ticket],
              "assignee_id": world.other_staff.id},
        headers=await bearer(world.staff),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["updated"] == [world.other_ticket]
    assert body["skipped"][0]["id"] == world.ticket and "not allowed" in body["skipped"][0]["reason"]


async def test_bulk_on_tickets_that_do_not_exist_or_are_not_mine_changes_nothing(client):
    world = await make_world()
    headers = await bearer(world.staff)
    for ids in ([world.ticket, 999_999], [world.ticket, world.other_ticket]):
        answer = await client.post("/api/v1/desk/tickets/bulk",
                                   json={"action": "close", "ticket_ids": ids}, headers=headers)
        assert answer.status_code == 422
        assert f"#{ids[1]}" in _field(answer, "ticket_ids")
        assert (await _ticket(world.ticket))["status"] == "in_progress"
    empty = await client.post("/api/v1/desk/tickets/bulk",
                              json={"action": "close", "ticket_ids": []}, headers=headers)
    _field(empty, "ticket_ids")
    unknown = await client.post("/api/v1/desk/tickets/bulk",
                                json={"action": "burn", "ticket_ids": [world.ticket]},
                                headers=headers)
    _field(unknown, "action")
    no_one = await client.post("/api/v1/desk/tickets/bulk",
                               json={"action": "assign", "ticket_ids": [world.ticket]},
                               headers=headers)
    _field(no_one, "assignee_id")


async def test_removed_tickets_go_to_the_trash_and_an_admin_restores_them(client):
    world = await make_world()
    staff = await bearer(world.staff)
    admin = await bearer(world.admin)
    removed = await client.post("/api/v1/desk/tickets/bulk",
                                json={"action": "remove", "ticket_ids": [world.ticket]},
                                headers=staff)
    assert removed.json()["updated"] == [world.ticket]
    queue = await client.get("/api/v1/desk/tickets", headers=staff)
    assert queue.json()["items"] == []
    assert (await client.get(f"/api/v1/desk/tickets/{world.ticket}", headers=staff)).status_code == 404
    trash = await client.get("/api/v1/admin/trash", headers=admin)
    assert [item["id"] for item in trash.json()["items"]] == [world.ticket]
    again = await client.post("/api/v1/desk/tickets/bulk",
                              json={"action": "remove", "ticket_ids": [world.ticket]},
                              headers=admin)
    assert again.json()["skipped"] == [{"id": world.ticket, "reason": "already in the trash"}]
    restored = await client.post(f"/api/v1/admin/trash/{world.ticket}/restore", headers=admin)
    assert restored.status_code == 200
    queue = await client.get("/api/v1/desk/tickets", headers=staff)
    assert [item["id"] for item in queue.json()["items"]] == [world.ticket]
    assert [e["kind"] for e in await _events(world.ticket)] == ["removed", "restored"]


async def test_counts_per_department(client):
    world = await make_world()
    answer = await client.get("/api/v1/desk/counts", headers=await bearer(world.staff))
    assert answer.json()["items"] == [
        {"department": {"id": world.department, "name": "Hosting"}, "open": 1}
    ]


async def test_templates_scopes_placeholders_and_empty_ones_refused(client):
    world = await make_world()
    staff = await bearer(world.staff)
    admin = await bearer(world.admin)
    personal = await client.post("/api/v1/desk/templates", headers=staff, json={
        "title": "Greeting", "body": "Hello {customer_name}, about {ticket_id} in {department}. {agent_name}"
    })
    assert personal.status_code == 201, personal.text
    department = await client.post("/api/v1/desk/templates", headers=staff, json={
        "title": "Dept", "body": "Hosting team", "scope": "department",
        "department_id": world.department,
    })
    assert department.status_code == 201
    refused = await client.post("/api/v1/desk/templates", headers=staff,
                                json={"title": "All", "body": "x", "scope": "global"})
    assert refused.status_code == 422 and _field(refused, "scope")
    foreign = await client.post("/api/v1/desk/templates", headers=staff, json={
        "title": "Other", "body": "x", "scope": "department",
        "department_id": world.other_department,
    })
    _field(foreign, "department_id")
    assert (await client.post("/api/v1/desk/templates", headers=admin,
                              json={"title": "All", "body": "Thanks", "scope": "global"})).status_code == 201
    for body in ({"title": " ", "body": "x"}, {"title": "x", "body": "  \n "}):
        empty = await client.post("/api/v1/desk/templates", headers=staff, json=body)
        assert empty.status_code == 422
        _field(empty, "title" if not body["title"].strip() else "body")
    assert await ReplyTemplate.count() == 3
    listed = await client.get(f"/api/v1/desk/templates?ticket_id={world.ticket}", headers=staff)
    by_title = {item["title"]: item for item in listed.json()["items"]}
    assert set(by_title) == {"Greeting", "Dept", "All"}
    assert by_title["Greeting"]["filled_body"] == (
        f"Hello Carla Customer, about #{world.ticket} in Hosting. Sam Staff"
    )
    # Someone else's personal template is not there for them.
    other = await client.get("/api/v1/desk/templates", headers=await bearer(world.other_staff))
    assert {item["title"] for item in other.json()["items"]} == {"All"}
    template_id = personal.json()["id"]
    emptied = await client.patch(f"/api/v1/desk/templates/{template_id}", headers=staff,
                                 json={"body": ""})
    _field(emptied, "body")
    hidden = await client.patch(f"/api/v1/desk/templates/{template_id}",
                                headers=await bearer(world.other_staff), json={"title": "Mine"})
    assert hidden.status_code == 404
    gone = await client.delete(f"/api/v1/desk/templates/{template_id}", headers=staff)
    assert gone.status_code == 204


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


async def test_staff_reply_with_attachments_by_multipart(client):
    world = await make_world()
    headers = await bearer(world.staff)
    answer = await client.post(
        f"/api/v1/desk/tickets/{world.ticket}/messages", headers=headers,
        data={"body": "Screenshot of the fix", "internal": "false"},
        files=[("attachments", ("fix.png", PNG, "image/png"))],
    )
    assert answer.status_code == 201, answer.text
    attached = answer.json()["attachments"]
    assert [item["filename"] for item in attached] == ["fix.png"]
    assert attached[0]["url"] == f"/attachments/{attached[0]['id']}"
    fake = await client.post(
        f"/api/v1/desk/tickets/{world.ticket}/messages", headers=headers,
        data={"body": "Not a picture"}, files=[("attachments", ("evil.png", b"MZ" * 40, "image/png"))],
    )
    assert fake.status_code == 422 and fake.json()["code"] == "attachment_rejected"
    assert await Message.count().where(Message.ticket == world.ticket) == 2


async def test_internal_notes_never_reach_the_customer_by_page_or_api(client):
    world = await make_world()
    staff = await bearer(world.staff)
    await client.post(f"/api/v1/desk/tickets/{world.ticket}/messages", headers=staff,
                      json={"body": "Secret: reseller account", "internal": True})
    await client.post(f"/api/v1/desk/tickets/{world.ticket}/messages", headers=staff,
                      json={"body": "We restarted the server."})
    by_api = await client.get(f"/api/v1/tickets/{world.ticket}", headers=await bearer(world.customer))
    assert by_api.status_code == 200, by_api.text
    bodies = [message["body"] for message in by_api.json()["messages"]]
    assert "We restarted the server." in bodies
    assert not any("Secret" in body for body in bodies)
    await login(client, world.customer.email)
    by_page = await client.get(f"/tickets/{world.ticket}")
    assert by_page.status_code == 200
    assert "We restarted the server." in by_page.text and "Secret" not in by_page.text
