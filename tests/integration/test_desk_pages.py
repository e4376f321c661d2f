"""The desk and admin pages as a person uses them: the queue, the ticket, answering with a
template, bulk actions, and refusals shown next to the field with what was typed kept."""

from __future__ import annotations

import html

from billdesk.tables import Department, Message, ReplyTemplate, Ticket
from tests.desk_support import make_desk_ticket, make_world
from tests.factories import csrf_token, login, make_department


async def _status(ticket_id: int) -> str:
    row = await Ticket.select(Ticket.status).where(Ticket.id == ticket_id).first()
    return row["status"]


async def test_queue_page_filters_and_marks_new_messages(client):
    world = await make_world()
    await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                           subject="Billing mail", minutes_ago=5)
    await login(client, world.staff.email)
    page = await client.get("/desk")
    assert page.status_code == 200
    assert "Server is down" in page.text and "Billing mail" in page.text
    assert "Domain transfer" not in page.text  # another department's
    assert 'class="unread"' in page.text
    assert 'data-select-all="ids"' in page.text
    assert "2 tickets" in page.text
    filtered = await client.get("/desk?q=billing")
    assert "Billing mail" in filtered.text and "Server is down" not in filtered.text
    assert 'value="billing"' in filtered.text  # the filter keeps what was typed
    # Opening the ticket clears its "new" mark.
    await client.get(f"/desk/tickets/{world.ticket}")
    row = await Ticket.select(Ticket.unread_by_staff).where(Ticket.id == world.ticket).first()
    assert row["unread_by_staff"] is False


async def test_reply_with_a_template_and_an_internal_note(client):
    world = await make_world()
    await ReplyTemplate.insert(ReplyTemplate(
        title="Greeting", body="Hi {customer_name}, {agent_name} here about {ticket_id}.",
        scope="department", department=world.department))
    await login(client, world.staff.email)
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert 'data-template-target="#f-body"' in page.text
    filled = f"Hi Carla Customer, Sam Staff here about #{world.ticket}."
    assert html.escape(filled) in page.text
    token = csrf_token(page.text)
    note = await client.post(f"/desk/tickets/{world.ticket}/reply",
                             data={"body": "Check the old plan", "internal": "1", "_csrf_token": token})
    assert note.status_code == 302
    assert await _status(world.ticket) == "in_progress"
    sent = await client.post(f"/desk/tickets/{world.ticket}/reply",
                             files={"attachments": ("", b"", "application/octet-stream")},
                             data={"body": filled, "_csrf_token": token})
    assert sent.status_code == 302, sent.text
    assert await _status(world.ticket) == "waiting_for_reply"
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert "message--internal" in page.text and "Check the old plan" in page.text
    assert await Message.count().where(Message.ticket == world.ticket) == 3


async def test_refusals_on_the_ticket_page_name_the_field(client):
    world = await make_world()
    await login(client, world.staff.email)
    page = await client.get(f"/desk/tickets/{world.ticket}")
    token = csrf_token(page.text)
    outsider = await client.post(f"/desk/tickets/{world.ticket}/assign",
                                 data={"assignee_id": str(world.other_staff.id), "_csrf_token": token})
    assert outsider.status_code == 422
    assert 'id="f-assignee_id-error"' in outsider.text
    inactive = await make_department(name="Old", active=False)
    moved = await client.post(f"/desk/tickets/{world.ticket}/transfer",
                              data={"department_id": str(inactive), "_csrf_token": token})
    assert moved.status_code == 422 and "active department" in moved.text
    empty = await client.post(f"/desk/tickets/{world.ticket}/reply",
                              data={"body": "   ", "_csrf_token": token})
    assert empty.status_code == 422 and 'id="f-body-error"' in empty.text
    row = await Ticket.select().where(Ticket.id == world.ticket).first()
    assert row["assignee"] is None and row["department"] == world.department
    closed = await client.post(f"/desk/tickets/{world.ticket}/close", data={"_csrf_token": token})
    assert closed.status_code == 302 and await _status(world.ticket) == "solved"
    assert "Ticket closed." in (await client.get(closed.headers["location"])).text
    late = await client.post(f"/desk/tickets/{world.ticket}/reply",
                             data={"body": "One more thing", "_csrf_token": token})
    assert late.status_code == 409 and "solved" in late.text
    assert "One more thing" in late.text  # kept, to copy into a new ticket


async def test_bulk_close_from_the_queue_and_refused_ids(client):
    world = await make_world()
    second = await make_desk_ticket(customer_id=world.customer.id, department_id=world.department)
    await login(client, world.staff.email)
    page = await client.get("/desk")
    token = csrf_token(page.text)
    done = await client.post("/desk/bulk", data={
        "action": "close", "ids": [str(world.ticket), str(second)], "_csrf_token": token})
    # A redirect, so a reload repeats nothing; the queue says what was done.
    assert done.status_code == 302 and done.headers["location"].startswith("/desk?")
    queue = await client.get(done.headers["location"])
    assert f"Closed 2 tickets: #{world.ticket}, #{second}." in queue.text
    assert "ticket(s)" not in queue.text
    assert await _status(second) == "solved"
    again = await client.get(done.headers["location"])
    assert "Closed 2 tickets" not in again.text  # said once
    foreign = await client.post("/desk/bulk", data={
        "action": "close", "ids": [str(world.other_ticket)], "_csrf_token": token})
    assert foreign.status_code == 422 and "Nothing was changed" in foreign.text
    assert await _status(world.other_ticket) == "in_progress"


async def test_empty_template_is_refused_with_the_typing_kept(client):
    world = await make_world()
    await login(client, world.staff.email)
    token = csrf_token((await client.get("/desk/templates")).text)
    answer = await client.post("/desk/templates", data={
        "title": "Kept title", "body": " ", "scope": "personal", "_csrf_token": token})
    assert answer.status_code == 422
    assert 'id="f-body-error"' in answer.text and 'value="Kept title"' in answer.text
    assert await ReplyTemplate.count() == 0


async def test_admin_department_form_refusals_keep_what_was_typed(client):
    world = await make_world()
    await login(client, world.admin.email)
    token = csrf_token((await client.get("/admin/departments")).text)
    base = {"name": "Billing", "slug": "billing", "quota_period": "month", "ticket_price": "500",
            "currency": "usd", "free_tickets": "2", "public": "1", "active": "1",
            "_csrf_token": token}
    for changes, field in (({"ticket_price": "-5"}, "ticket_price"),
                           ({"free_tickets": "-1"}, "free_tickets"),
                           ({"currency": "abc"}, "currency"),
                           ({"slug": "Not A Slug"}, "slug")):
        answer = await client.post("/admin/departments", data={**base, **changes})
        assert answer.status_code == 422, (changes, answer.status_code)
        assert f'id="f-{field}-error"' in answer.text
        if field != "currency":  # chosen from a list
            assert f'value="{next(iter(changes.values()))}"' in answer.text
    assert await Department.count() == 2
    created = await client.post("/admin/departments", data=base)
    assert created.status_code == 302
    duplicate = await client.post("/admin/departments", data={**base, "name": "Billing 2"})
    assert duplicate.status_code == 422 and "slug already" in duplicate.text
    assert await Department.count() == 3


async def test_admin_deactivates_a_user_and_their_session_ends(client, app_client_factory):
    world = await make_world()
    async with app_client_factory() as staff_browser:
        await login(staff_browser, world.staff.email)
        assert (await staff_browser.get("/desk")).status_code == 200
        await login(client, world.admin.email)
        token = csrf_token((await client.get(f"/admin/users/{world.staff.id}")).text)
        answer = await client.post(f"/admin/users/{world.staff.id}", data={
            "name": "Sam Staff", "email": world.staff.email, "role": "staff", "_csrf_token": token})
        assert answer.status_code == 302
        assert (await staff_browser.get("/desk")).status_code == 302  # back to the log-in page


async def test_transfer_out_of_reach_goes_back_to_the_queue_saying_where(client):
    world = await make_world()
    elsewhere = await make_department(name="Domains desk")
    await login(client, world.staff.email)
    token = csrf_token((await client.get(f"/desk/tickets/{world.ticket}")).text)
    moved = await client.post(
        f"/desk/tickets/{world.ticket}/transfer",
        data={"department_id": str(elsewhere), "_csrf_token": token},
    )
    assert moved.status_code == 302 and moved.headers["location"] == "/desk"
    queue = await client.get("/desk")
    assert queue.status_code == 200
    assert (
        f"Ticket #{world.ticket}: Moved to Domains desk. It is no longer in your queue."
        in queue.text
    )


async def test_an_action_that_keeps_the_ticket_in_reach_stays_on_it_and_says_so(client):
    world = await make_world()
    await login(client, world.staff.email)
    token = csrf_token((await client.get(f"/desk/tickets/{world.ticket}")).text)
    done = await client.post(
        f"/desk/tickets/{world.ticket}/priority", data={"priority": "high", "_csrf_token": token}
    )
    assert done.headers["location"] == f"/desk/tickets/{world.ticket}"
    assert "Priority set to High." in (await client.get(done.headers["location"])).text


async def test_every_admin_form_says_it_saved(client):
    world = await make_world()
    await login(client, world.admin.email)
    token = csrf_token((await client.get("/admin/settings")).text)
    answer = await client.post(
        "/admin/settings", data={"support_enabled": "1", "_csrf_token": token}
    )
    assert answer.status_code == 302
    assert "Support is on." in (await client.get(answer.headers["location"])).text
    answer = await client.post(
        f"/admin/users/{world.staff.id}",
        data={
            "name": "Sam Staff",
            "email": world.staff.email,
            "role": "staff",
            "active": "1",
            "_csrf_token": token,
        },
    )
    assert f"User {world.staff.email} saved." in (await client.get(answer.headers["location"])).text


async def test_a_forged_flash_cookie_shows_nothing(client):
    world = await make_world()
    await login(client, world.staff.email)
    client.cookies.set("billdesk_flash", "W1sic3VjY2VzcyIsICJIYWNrZWQiXV0.0000")
    assert "Hacked" not in (await client.get("/desk")).text


async def test_prices_are_typed_in_the_currency_s_units_and_saving_says_so(client):
    world = await make_world()
    await login(client, world.admin.email)
    page = await client.get(f"/admin/departments/{world.department}")
    assert '<select' in page.text and 'value="jpy"' in page.text  # the currency is chosen
    token = csrf_token(page.text)
    base = {"name": "Hosting", "slug": "hosting", "quota_period": "month", "free_tickets": "3",
            "public": "1", "active": "1", "_csrf_token": token}
    for typed, currency, saved in (("20", "usd", 2000), ("20.00", "usd", 2000),
                                   ("20,00", "usd", 2000), ("1 500,50", "eur", 150050),
                                   ("500", "jpy", 500)):
        answer = await client.post(f"/admin/departments/{world.department}",
                                   data={**base, "ticket_price": typed, "currency": currency})
        assert answer.status_code == 302, (typed, answer.text)
        row = await Department.select(Department.ticket_price, Department.currency).where(
            Department.id == world.department).first()
        assert (row["ticket_price"], row["currency"]) == (saved, currency), typed
        shown = await client.get(answer.headers["location"])
        assert "Saved." in shown.text
    # The form shows the saved price in yen again, not in minor units of something else.
    assert 'value="500"' in shown.text
    listing = await client.get("/admin/departments")
    assert "500 JPY" in listing.text and "3 tickets a month" in listing.text
    for typed, currency, message in (("5.5", "jpy", "JPY has no fractions"),
                                     ("20.001", "bhd", None), ("20.123", "usd", "USD has 2 decimal places"),
                                     ("twenty", "usd", "Type an amount like 20.00")):
        answer = await client.post(f"/admin/departments/{world.department}",
                                   data={**base, "ticket_price": typed, "currency": currency})
        if message is None:
            assert answer.status_code == 302  # 20.001 dinars: three decimal places
            continue
        assert answer.status_code == 422 and 'id="f-ticket_price-error"' in answer.text
        assert message in answer.text, typed


async def test_history_and_lists_use_the_pages_words_not_stored_values(client):
    from billdesk.tables import TicketEvent

    world = await make_world()
    await TicketEvent.insert(TicketEvent(ticket=world.ticket, kind="status",
                                         old_value="awaiting_payment", new_value="in_progress"))
    await ReplyTemplate.insert(ReplyTemplate(title="Ref", body="About #{ticket_id}.",
                                             scope="personal", owner=world.staff.id))
    await login(client, world.staff.email)
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert "Awaiting payment → In progress" in page.text
    assert "awaiting_payment" not in page.text
    assert f"About #{world.ticket}." in page.text and "##" not in page.text
    templates = await client.get("/desk/templates")
    assert "Personal (only me)" in templates.text


async def test_a_ticket_nobody_at_the_desk_has_read_is_new(client):
    world = await make_world()
    await login(client, world.staff.email)
    queue = await client.get("/desk")
    assert "status--new" in queue.text and ">New<" in queue.text.replace("\n", "").replace(" ", "")
    await client.get(f"/desk/tickets/{world.ticket}")  # read now
    queue = await client.get("/desk")
    assert "status--new" not in queue.text


async def test_a_reply_assigns_an_unassigned_ticket_where_the_department_says_so(client):
    world = await make_world()
    await login(client, world.staff.email)
    token = csrf_token((await client.get(f"/desk/tickets/{world.ticket}")).text)
    await client.post(f"/desk/tickets/{world.ticket}/reply",
                      data={"body": "Looking at it", "_csrf_token": token})
    row = await Ticket.select(Ticket.assignee).where(Ticket.id == world.ticket).first()
    assert row["assignee"] == world.staff.id
    await Department.update({Department.assign_on_reply: False}).where(
        Department.id == world.department)
    second = await make_desk_ticket(customer_id=world.customer.id, department_id=world.department)
    await client.post(f"/desk/tickets/{second}/reply", data={"body": "Hi", "_csrf_token": token})
    row = await Ticket.select(Ticket.assignee).where(Ticket.id == second).first()
    assert row["assignee"] is None
