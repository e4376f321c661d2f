"""Tags: admins keep them, staff put them on tickets (one or many), the queue filters by
them, the desk's API and pages show them as coloured chips, the support report counts
tickets per tag; customers never see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billdesk import tags
from billdesk.tables import Tag, Ticket, TicketEvent, TicketTag
from tests.desk_support import bearer, make_desk_ticket, make_world
from tests.factories import csrf_token, login


def _field(answer, field: str) -> str:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert field in fields, body
    return fields[field]


async def _tag(client, admin_headers, name: str, colour: str = "#1d4ed8") -> dict:
    answer = await client.post(
        "/api/v1/admin/tags", json={"name": name, "colour": colour}, headers=admin_headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _tag_names(ticket_id: int) -> list[str]:
    return [tag["name"] for tag in (await tags.tags_of([ticket_id]))[ticket_id]]


async def test_admin_api_adds_renames_recolours_and_deletes_tags(client):
    world = await make_world()
    admin = await bearer(world.admin)
    billing = await _tag(client, admin, "  Billing   issue ", "#B91C1C")
    assert billing == {"id": billing["id"], "name": "Billing issue", "colour": "#b91c1c"}

    # Bad input: 422 naming the field; nothing is written.
    assert "already" in _field(await client.post(
        "/api/v1/admin/tags", json={"name": "BILLING ISSUE"}, headers=admin), "name")
    _field(await client.post("/api/v1/admin/tags", json={"name": "  "}, headers=admin), "name")
    _field(await client.post("/api/v1/admin/tags", json={"name": "x" * 41}, headers=admin), "name")
    for colour in ("red", "#12345", "#123456", "#b91c1c;background:url(x)", ""):
        _field(await client.post(
            "/api/v1/admin/tags", json={"name": "Other", "colour": colour}, headers=admin
        ), "colour")
    assert await Tag.count() == 1

    vip = await _tag(client, admin, "VIP")
    renamed = await client.patch(
        f"/api/v1/admin/tags/{billing['id']}", json={"name": "Billing", "colour": "#15803d"},
        headers=admin,
    )
    assert renamed.json() == {"id": billing["id"], "name": "Billing", "colour": "#15803d"}
    assert "already" in _field(await client.patch(
        f"/api/v1/admin/tags/{vip['id']}", json={"name": "billing"}, headers=admin), "name")
    # Its own name in another case is no clash.
    recased = await client.patch(
        f"/api/v1/admin/tags/{vip['id']}", json={"name": "vip"}, headers=admin)
    assert recased.json()["name"] == "vip"
    listed = await client.get("/api/v1/admin/tags", headers=admin)
    assert [tag["name"] for tag in listed.json()["items"]] == ["Billing", "vip"]

    await TicketTag.insert(TicketTag(ticket=world.ticket, tag=vip["id"]))
    gone = await client.delete(f"/api/v1/admin/tags/{vip['id']}", headers=admin)
    assert gone.status_code == 204
    assert await _tag_names(world.ticket) == []
    missing = await client.delete(f"/api/v1/admin/tags/{vip['id']}", headers=admin)
    assert missing.status_code == 404

    for role in ("staff", "customer", "finance"):
        headers = await bearer(world.by_role(role))
        assert (await client.get("/api/v1/admin/tags", headers=headers)).status_code == 403
        refused = await client.post("/api/v1/admin/tags", json={"name": "X"}, headers=headers)
        assert refused.status_code == 403
    assert await Tag.count() == 1


async def test_admin_page_adds_renames_recolours_and_deletes_with_confirmation(
    client, app_client_factory
):
    world = await make_world()
    await login(client, world.admin.email)
    page = await client.get("/admin/tags")
    assert page.status_code == 200 and 'href="/admin/tags"' in page.text
    token = csrf_token(page.text)
    added = await client.post(
        "/admin/tags", data={"name": "Outage", "colour": "#c2410c", "_csrf_token": token})
    assert added.status_code == 302
    listed = await client.get("/admin/tags")
    assert "Outage" in listed.text and 'class="tag tag--c2410c"' in listed.text
    tag_id = (await Tag.select(Tag.id).first())["id"]

    refused = await client.post(
        "/admin/tags", data={"name": "outage", "colour": "#c2410c", "_csrf_token": token})
    assert refused.status_code == 422 and 'id="f-name-error"' in refused.text
    bad_colour = await client.post(f"/admin/tags/{tag_id}", data={
        "name": "Outage", "colour": '"><script>', "_csrf_token": token})
    assert bad_colour.status_code == 422
    assert f'id="f-colour-{tag_id}-error"' in bad_colour.text and "<script>" not in bad_colour.text

    saved = await client.post(f"/admin/tags/{tag_id}", data={
        "name": "Big outage", "colour": "#7e22ce", "_csrf_token": token})
    assert saved.status_code == 302
    assert await Tag.select(Tag.name, Tag.colour).first() == {
        "name": "Big outage", "colour": "#7e22ce"}
    listed = await client.get("/admin/tags")
    assert 'data-confirm="Delete the tag “Big outage”?' in listed.text
    deleted = await client.post(f"/admin/tags/{tag_id}/delete", data={"_csrf_token": token})
    assert deleted.status_code == 302 and await Tag.count() == 0

    async with app_client_factory() as staff_client:
        await login(staff_client, world.staff.email)
        assert (await staff_client.get("/admin/tags")).status_code == 403


async def test_staff_tag_a_ticket_through_the_api_with_its_history(client):
    world = await make_world()
    admin, staff = await bearer(world.admin), await bearer(world.staff)
    billing, vip = await _tag(client, admin, "Billing"), await _tag(client, admin, "VIP", "#be185d")

    answer = await client.put(f"/api/v1/desk/tickets/{world.ticket}/tags",
                              json={"tag_ids": [vip["id"], billing["id"]]}, headers=staff)
    assert answer.status_code == 200, answer.text
    assert answer.json()["tags"] == [billing, vip]  # by name
    answer = await client.put(f"/api/v1/desk/tickets/{world.ticket}/tags",
                              json={"tag_ids": [vip["id"]]}, headers=staff)
    assert [tag["name"] for tag in answer.json()["tags"]] == ["VIP"]
    events = [
        (event["kind"], event["old_value"], event["new_value"])
        for event in answer.json()["events"] if event["kind"].startswith("tag_")
    ]
    assert events == [("tag_added", "", "Billing"), ("tag_added", "", "VIP"),
                      ("tag_removed", "Billing", "")]

    assert "9999" in _field(await client.put(
        f"/api/v1/desk/tickets/{world.ticket}/tags", json={"tag_ids": [9999]}, headers=staff),
        "tag_ids")
    assert await _tag_names(world.ticket) == ["VIP"]
    # A ticket of a department the staff member is not in does not exist for them.
    foreign = await client.put(f"/api/v1/desk/tickets/{world.other_ticket}/tags",
                               json={"tag_ids": [vip["id"]]}, headers=staff)
    assert foreign.status_code == 404
    assert await _tag_names(world.other_ticket) == []
    listed = await client.get("/api/v1/desk/tags", headers=staff)
    assert [tag["name"] for tag in listed.json()["items"]] == ["Billing", "VIP"]


async def test_staff_tag_a_ticket_on_its_page_and_the_history_is_translated(client):
    world = await make_world()
    outage = await Tag.insert(Tag(name="Outage", name_key="outage", colour="#b91c1c")).returning(Tag.id)
    tag_id = outage[0]["id"]
    await login(client, world.staff.email)
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert 'name="tag_ids"' in page.text
    saved = await client.post(f"/desk/tickets/{world.ticket}/tags", data={
        "tag_ids": [str(tag_id)], "_csrf_token": csrf_token(page.text)})
    assert saved.status_code == 302
    page = await client.get(f"/desk/tickets/{world.ticket}")
    assert '<span class="tag tag--b91c1c">Outage</span>' in page.text
    assert "<strong>Tag added</strong>: Outage" in page.text
    russian = await client.get(f"/desk/tickets/{world.ticket}", headers={"Accept-Language": "ru"})
    assert "<strong>Добавлена метка</strong>: Outage" in russian.text

    refused = await client.post(f"/desk/tickets/{world.ticket}/tags", data={
        "tag_ids": ["abc"], "_csrf_token": csrf_token(page.text)})
    assert refused.status_code == 422 and 'id="f-tag_ids"' in refused.text
    foreign = await client.post(f"/desk/tickets/{world.other_ticket}/tags", data={
        "tag_ids": [str(tag_id)], "_csrf_token": csrf_token(page.text)})
    assert foreign.status_code == 404


async def test_bulk_add_and_remove_a_tag_on_the_page_and_in_the_api(client):
    world = await make_world()
    admin, staff = await bearer(world.admin), await bearer(world.staff)
    vip = await _tag(client, admin, "VIP")
    second = await make_desk_ticket(customer_id=world.customer.id, department_id=world.department,
                                    status="solved")
    trashed = await make_desk_ticket(customer_id=world.customer.id,
                                     department_id=world.department, removed=True)
    await TicketTag.insert(TicketTag(ticket=second, tag=vip["id"]))

    done = await client.post("/api/v1/desk/tickets/bulk", json={
        "action": "add_tag", "tag_id": vip["id"], "ticket_ids": [world.ticket, second, trashed],
    }, headers=staff)
    assert done.status_code == 200, done.text
    assert done.json() == {"updated": [world.ticket], "skipped": [
        {"id": second, "reason": "already tagged"}, {"id": trashed, "reason": "already in the trash"},
    ]}
    assert await _tag_names(world.ticket) == ["VIP"]
    missing_tag = await client.post("/api/v1/desk/tickets/bulk", json={
        "action": "add_tag", "ticket_ids": [world.ticket]}, headers=staff)
    _field(missing_tag, "tag_id")
    foreign = await client.post("/api/v1/desk/tickets/bulk", json={
        "action": "add_tag", "tag_id": vip["id"], "ticket_ids": [world.ticket, world.other_ticket],
    }, headers=staff)
    assert f"#{world.other_ticket}" in _field(foreign, "ticket_ids")
    assert await _tag_names(world.other_ticket) == []

    await login(client, world.staff.email)
    page = await client.get("/desk")
    assert '<option value="add_tag">' in page.text
    removed = await client.post("/desk/bulk", data={
        "action": "remove_tag", "tag_id": str(vip["id"]), "ids": [str(world.ticket)],
        "_csrf_token": csrf_token(page.text)})
    assert removed.status_code == 302
    queue = await client.get(removed.headers["location"])
    assert f"Took the tag off 1 ticket: #{world.ticket}." in queue.text
    assert await _tag_names(world.ticket) == []
    assert await TicketEvent.count().where(TicketEvent.kind == "tag_removed") == 1


async def test_queue_filters_by_tag_with_keyset_pages_on_the_page_and_in_the_api(client):
    world = await make_world()
    admin, staff = await bearer(world.admin), await bearer(world.staff)
    vip = await _tag(client, admin, "VIP", "#be185d")
    other = await _tag(client, admin, "Other")
    tagged = []
    for n in range(5):
        ticket_id = await make_desk_ticket(
            customer_id=world.customer.id, department_id=world.department,
            subject=f"Tagged {n}", minutes_ago=n + 1)
        tagged.append(ticket_id)
    await TicketTag.insert(*[TicketTag(ticket=ticket_id, tag=vip["id"]) for ticket_id in tagged])
    await TicketTag.insert(TicketTag(ticket=world.ticket, tag=other["id"]))
    await TicketTag.insert(TicketTag(ticket=world.other_ticket, tag=vip["id"]))  # not staff's

    seen, cursor = [], None
    while True:
        path = f"/api/v1/desk/tickets?tag={vip['id']}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(path, headers=staff)).json()
        seen += [item["id"] for item in body["items"]]
        assert all(item["tags"] == [vip] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == tagged
    assert body["total"] == 5
    everything = (await client.get("/api/v1/desk/tickets", headers=staff)).json()
    shown = {item["id"]: item["tags"] for item in everything["items"]}
    assert shown[world.ticket] == [other] and shown[tagged[0]] == [vip]
    _field(await client.get("/api/v1/desk/tickets?tag=9999", headers=staff), "tag")
    _field(await client.get("/api/v1/desk/tickets?tag=abc", headers=staff), "tag")

    await login(client, world.staff.email)
    page = await client.get(f"/desk?tag={vip['id']}")
    assert page.status_code == 200
    assert page.text.count('name="ids"') == 5
    assert page.text.count('<span class="tag tag--be185d">VIP</span>') == 5
    assert f'<option value="{vip["id"]}" selected>VIP</option>' in page.text
    assert (await client.get("/desk?tag=9999")).status_code == 422


async def test_customers_never_see_tags(client):
    world = await make_world()
    vip = await Tag.insert(Tag(name="Difficult customer", name_key="difficult customer",
                               colour="#b91c1c")).returning(Tag.id)
    await TicketTag.insert(TicketTag(ticket=world.ticket, tag=vip[0]["id"]))
    headers = await bearer(world.customer)
    listed = await client.get("/api/v1/tickets", headers=headers)
    one = await client.get(f"/api/v1/tickets/{world.ticket}", headers=headers)
    assert listed.status_code == one.status_code == 200
    for answer in (listed, one):
        assert "Difficult" not in answer.text and '"tags"' not in answer.text
    assert (await client.get("/api/v1/desk/tags", headers=headers)).status_code == 403
    await login(client, world.customer.email)
    for path in ("/tickets", f"/tickets/{world.ticket}"):
        page = await client.get(path)
        assert page.status_code == 200 and "Difficult" not in page.text


async def test_support_report_counts_tickets_per_tag(client):
    world = await make_world()
    admin, staff = await bearer(world.admin), await bearer(world.staff)
    vip, other = await _tag(client, admin, "VIP"), await _tag(client, admin, "Other")
    start = datetime(2026, 11, 3, 10, tzinfo=UTC)
    rows = await Ticket.insert(*[
        Ticket(customer=world.customer.id, department=department, subject=f"R{n}",
               clock_started_at=start + timedelta(hours=n),
               solved_at=start + timedelta(days=1) if n < 2 else None,
               status="solved" if n < 2 else "in_progress")
        for n, department in enumerate(
            [world.department, world.department, world.department, world.other_department])
    ]).returning(Ticket.id)
    ids = [row["id"] for row in rows]
    await TicketTag.insert(*[TicketTag(ticket=ticket_id, tag=vip["id"]) for ticket_id in ids])
    await TicketTag.insert(TicketTag(ticket=ids[0], tag=other["id"]))

    window = "/api/v1/reports/support?from=2026-11-01&to=2026-11-10"
    mine = (await client.get(window, headers=staff)).json()["tags"]
    assert mine == [{"tag": other, "opened": 1, "solved": 1}, {"tag": vip, "opened": 3, "solved": 2}]
    everything = (await client.get(window, headers=admin)).json()["tags"]
    assert everything[1] == {"tag": vip, "opened": 4, "solved": 2}
    before = (await client.get(
        "/api/v1/reports/support?from=2026-10-01&to=2026-10-30", headers=admin)).json()
    assert before["tags"] == []

    await login(client, world.staff.email)
    page = await client.get("/desk/reports?from=2026-11-01&to=2026-11-10")
    assert 'id="table-tags"' in page.text and ">VIP</span></th><td>3</td><td>2</td>" in page.text
    exported = await client.get("/desk/reports/support.csv?from=2026-11-01&to=2026-11-10")
    assert "\r\ntag,VIP,3,2," in exported.text


def test_every_palette_colour_has_its_class_in_the_style_sheet():
    css = (Path(__file__).parents[2] / "static" / "css" / "billdesk.css").read_text()
    classes = set(re.findall(r"\.tag--([0-9a-f]{6}) \{ background: #([0-9a-f]{6}); \}", css))
    assert classes == {(colour[1:], colour[1:]) for colour in tags.PALETTE}
