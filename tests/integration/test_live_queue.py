"""The live queue: the version and counts an open desk page polls, and the rows it swaps
in when the version moved (docs/desk.md, "Live queue")."""

from __future__ import annotations

import re

from billdesk import queues
from billdesk.tables import Ticket
from billdesk.tickets import close_ticket, mark_read_by_staff, reply_as_customer, reply_as_staff
from tests.desk_support import bearer, make_desk_ticket, make_world
from tests.factories import as_current, login, make_ticket


async def _live(client) -> dict:
    answer = await client.get("/desk/live")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_counts_and_version_follow_tickets_of_the_staff_members_departments(
    client, app_client_factory
):
    world = await make_world()
    await login(client, world.staff.email)
    before = await _live(client)
    assert before["counts"] == [{"department_id": world.department, "open": 1}]
    assert before["refresh_seconds"] > 0

    # A ticket of another department changes nothing this agent sees …
    await make_ticket(world.customer, world.other_department)
    assert await _live(client) == before

    # … one of theirs moves the version and the count.
    await make_ticket(world.customer, world.department)
    opened = await _live(client)
    assert opened["counts"] == [{"department_id": world.department, "open": 2}]
    assert opened["version"] != before["version"]

    # A reading that changes nothing leaves the version; every write moves it.
    await mark_read_by_staff(ticket_id=world.ticket)
    read = await _live(client)
    await mark_read_by_staff(ticket_id=world.ticket)
    assert (await _live(client))["version"] == read["version"]
    seen = {read["version"]}
    staff = as_current(world.staff)
    for change in (
        lambda: reply_as_staff(
            ticket_id=world.ticket, author=staff, body="On it", internal=False, files=[]
        ),
        lambda: reply_as_customer(
            ticket_id=world.ticket, customer=as_current(world.customer), body="Thanks", files=[]
        ),
        # (the first answer assigned the ticket to its author)
        lambda: queues.assign_ticket(actor=staff, ticket_id=world.ticket, assignee_id=None),
        lambda: queues.set_priority(actor=staff, ticket_id=world.ticket, priority="urgent"),
        lambda: close_ticket(world.ticket, actor=staff),
    ):
        await change()
        version = (await _live(client))["version"]
        assert version not in seen
        seen.add(version)
    assert (await _live(client))["counts"] == [{"department_id": world.department, "open": 1}]

    # The API gives the same, for scripts.
    api = await client.get("/api/v1/desk/counts", headers=await bearer(world.staff))
    assert api.json()["version"] == (await _live(client))["version"]
    assert [item["open"] for item in api.json()["items"]] == [1]

    # A colleague of the other department sees theirs only.
    async with app_client_factory() as other:
        await login(other, world.other_staff.email)
        assert (await _live(other))["counts"] == [
            {"department_id": world.other_department, "open": 2}
        ]


async def test_a_ticket_moved_or_deleted_changes_both_departments_versions(app_client_factory):
    world = await make_world()
    async with app_client_factory() as staff, app_client_factory() as other:
        await login(staff, world.staff.email)
        await login(other, world.other_staff.email)
        mine, theirs = (await _live(staff))["version"], (await _live(other))["version"]
        await queues.transfer_ticket(
            actor=as_current(world.admin), ticket_id=world.ticket,
            department_id=world.other_department,
        )
        moved_mine, moved_theirs = (await _live(staff))["version"], (await _live(other))["version"]
        assert moved_mine != mine and moved_theirs != theirs
        await Ticket.delete().where(Ticket.id == world.other_ticket)
        assert (await _live(staff))["version"] == moved_mine
        assert (await _live(other))["version"] != moved_theirs


async def test_customers_and_finance_never_reach_the_live_endpoints(client, app_client_factory):
    world = await make_world()
    for user in (world.customer, world.finance):
        async with app_client_factory() as browser:
            await login(browser, user.email)
            for path in ("/desk/live", "/desk/rows?page=1"):
                assert (await browser.get(path)).status_code == 403, (user.role, path)
        api = await client.get("/api/v1/desk/counts", headers=await bearer(user))
        assert api.status_code == 403
    assert (await client.get("/desk/live", follow_redirects=False)).status_code == 302
    assert (await client.get("/api/v1/desk/counts")).status_code == 401


def _row_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-ticket-id="(\d+)"', html)]


async def test_rows_follow_the_pages_filters_and_mark_what_is_new(client):
    world = await make_world()
    older = await make_desk_ticket(
        customer_id=world.customer.id, department_id=world.department, subject="Disk full",
        minutes_ago=30,
    )
    await login(client, world.staff.email)
    page = await client.get(f"/desk?department={world.department}&sort=last_message_at")
    rows_url = re.search(r'data-live-rows="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert rows_url.startswith("/desk/rows?")
    assert _row_ids(page.text) == [world.ticket, older]

    arrived = await make_desk_ticket(
        customer_id=world.customer.id, department_id=world.department, subject="Mail bounces"
    )
    await make_desk_ticket(
        customer_id=world.customer.id, department_id=world.other_department, subject="Not mine"
    )
    answer = await client.get(f"{rows_url}&shown={world.ticket},{older}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert _row_ids(answer.text) == [arrived, world.ticket, older]
    assert re.search(rf'<tr data-ticket-id="{arrived}" class="[^"]*is-new', answer.text)
    assert 'data-note="1 new ticket"' in answer.text
    assert "Not mine" not in answer.text
    assert "<html" not in answer.text  # rows only, no layout

    unchanged = await client.get(f"{rows_url}&shown={arrived},{world.ticket},{older}")
    assert "is-new" not in unchanged.text
    assert 'data-note="The queue was updated."' in unchanged.text

    refused = await client.get(f"{rows_url}&shown=1,two")
    assert refused.status_code == 422
    assert "shown" in refused.text


async def test_a_page_showing_refusals_does_not_follow_the_queue(client):
    world = await make_world()
    await login(client, world.staff.email)
    page = await client.get("/desk?sort=sideways")
    assert page.status_code == 422
    assert "data-live-rows" not in page.text


async def test_tagging_a_ticket_moves_the_version_so_an_open_queue_shows_the_chip(client):
    from billdesk import tags

    world = await make_world()
    await login(client, world.staff.email)
    staff = as_current(world.staff)
    tag = await tags.create_tag(name="VIP", colour=tags.DEFAULT_COLOUR)
    before = (await _live(client))["version"]

    await tags.set_ticket_tags(actor=staff, ticket_id=world.ticket, tag_ids=[tag["id"]])
    tagged = (await _live(client))["version"]
    assert tagged != before

    # Setting the same tags again writes nothing, so the version stays.
    await tags.set_ticket_tags(actor=staff, ticket_id=world.ticket, tag_ids=[tag["id"]])
    assert (await _live(client))["version"] == tagged

    await tags.set_ticket_tags(actor=staff, ticket_id=world.ticket, tag_ids=[])
    assert (await _live(client))["version"] not in (before, tagged)
