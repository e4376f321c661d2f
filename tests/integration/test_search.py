"""Full-text search on the desk and in the client area, on both engines: words anywhere in
a ticket, IP addresses, e-mails, service ids, phrases, prefixes, ticket numbers, Cyrillic;
ranked, with the matching passage marked; customers never find others' tickets or notes."""

from __future__ import annotations

from billdesk import search
from billdesk.attachments import Upload
from billdesk.departments import upsert_customer, upsert_service
from billdesk.tables import TicketSearch
from billdesk.tickets import delete_own_reply, reply_as_customer, reply_as_staff
from tests.desk_support import bearer
from tests.factories import (
    add_member,
    as_current,
    login,
    make_department,
    make_service,
    make_ticket,
    make_user,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _desk_ids(client, headers, q: str, **params) -> list[int]:
    answer = await client.get("/api/v1/desk/tickets", params={"q": q, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def _own_ids(client, headers, q: str) -> list[int]:
    answer = await client.get("/api/v1/tickets", params={"q": q}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def _setup():
    department = await make_department(name="Hosting", free_tickets=None)
    staff = await make_user(role="staff", name="Sam Staff")
    await add_member(department_id=department, user_id=staff.id)
    alice = await make_user(role="customer", name="Alice Liddell", email="alice@wonder.test")
    bob = await make_user(role="customer", name="Bob Builder", email="bob@builder.test")
    return department, staff, alice, bob


async def test_staff_find_tickets_by_any_text_they_hold(client):
    department, staff, alice, bob = await _setup()
    service = await make_service(customer_id=alice.id, name="Berlin VPS")
    first = await make_ticket(alice, department, "Website slow\nSince this morning.", service)
    await reply_as_staff(first, as_current(staff), "Which page is slow?")
    await reply_as_customer(
        ticket_id=first,
        customer=as_current(alice),
        files=[],
        body="The checkout at 192.168.10.42 times out with ERR_CONNECTION_REFUSED.",
    )
    other = await make_ticket(
        bob, department, "Mail bounces\nFrom 10.0.0.1, the error is quota exceeded."
    )
    russian = await make_ticket(
        bob, department, "Сервер не отвечает\nПосле перезагрузки сервер упал."
    )
    headers = await bearer(staff)

    # A word only in the third message, an IP address, an error text.
    assert await _desk_ids(client, headers, "checkout") == [first]
    assert await _desk_ids(client, headers, "192.168.10.42") == [first]
    assert await _desk_ids(client, headers, "ERR_CONNECTION_REFUSED") == [first]
    assert await _desk_ids(client, headers, "192.168.10.43") == []
    # The customer's e-mail and name, the service's name and external id.
    assert await _desk_ids(client, headers, "alice@wonder.test") == [first]
    assert await _desk_ids(client, headers, "Liddell") == [first]
    assert await _desk_ids(client, headers, "Berlin") == [first]
    svc = await search.TicketSearch.select().where(TicketSearch.ticket == first).first()
    external_id = next(part for part in svc["public_text"].split("\n") if part.startswith("svc-"))
    assert await _desk_ids(client, headers, external_id) == [first]
    # A phrase (in order), a prefix, every word must match.
    assert await _desk_ids(client, headers, '"quota exceeded"') == [other]
    assert await _desk_ids(client, headers, '"exceeded quota"') == []
    assert await _desk_ids(client, headers, "bounc*") == [other]
    assert await _desk_ids(client, headers, "mail quota") == [other]
    assert await _desk_ids(client, headers, "mail checkout") == []
    # Cyrillic, in any case, and a prefix of it.
    assert await _desk_ids(client, headers, "СЕРВЕР") == [russian]
    assert await _desk_ids(client, headers, "перезагруз*") == [russian]


async def test_results_are_ranked_and_show_the_passage_marked(client):
    department, staff, alice, _ = await _setup()
    once = await make_ticket(alice, department, "Question\nIs backup included in the plan?")
    often = await make_ticket(
        alice,
        department,
        "Backup failed\nThe backup failed again; backup logs say <b>disk</b> full.",
    )
    answer = await client.get(
        "/api/v1/desk/tickets", params={"q": "backup"}, headers=await bearer(staff)
    )
    items = answer.json()["items"]
    assert [item["id"] for item in items] == [often, once]
    assert answer.json()["next_cursor"] is None
    html = items[0]["snippet"]["html"]
    assert html.startswith("<mark>Backup</mark> failed")
    assert "&lt;b&gt;disk&lt;/b&gt;" in html and "<b>" not in html
    assert items[0]["snippet"]["internal"] is False


async def test_internal_notes_are_found_by_staff_and_never_by_customers(client):
    department, staff, alice, bob = await _setup()
    ticket = await make_ticket(alice, department, "Cannot log in\nPassword rejected.")
    await reply_as_staff(
        ticket, as_current(staff), "Customer owes money: suspicious", internal=True
    )
    bobs = await make_ticket(bob, department, "Cannot log in either\nSame problem.")
    staff_headers = await bearer(staff)
    answer = await client.get(
        "/api/v1/desk/tickets", params={"q": "suspicious"}, headers=staff_headers
    )
    assert [item["id"] for item in answer.json()["items"]] == [ticket]
    assert answer.json()["items"][0]["snippet"]["internal"] is True

    alice_headers = await bearer(alice)
    assert await _own_ids(client, alice_headers, "suspicious") == []
    assert await _own_ids(client, alice_headers, '"money suspicious"') == []
    assert await _own_ids(client, alice_headers, "suspic*") == []
    assert await _own_ids(client, alice_headers, "log") == [ticket]
    # Bob's ticket has the same words; Alice never finds it, by text or number.
    assert await _own_ids(client, alice_headers, "either") == []
    assert await _own_ids(client, alice_headers, f"#{bobs}") == []
    found = await client.get("/api/v1/tickets", params={"q": "log"}, headers=alice_headers)
    assert (
        "Password" in found.json()["items"][0]["snippet"]["html"]
        or found.json()["items"][0]["snippet"]
    )


async def test_a_ticket_number_jumps_straight_to_the_ticket(client, app_client_factory):
    department, staff, alice, bob = await _setup()
    ticket = await make_ticket(alice, department, "Renewal\nPlease renew.")
    bobs = await make_ticket(bob, department, "Other\nText.")
    await login(client, staff.email)
    for typed in (f"#{ticket}", str(ticket), f" {ticket} "):
        answer = await client.get("/desk", params={"q": typed})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"/desk/tickets/{ticket}"
    api = await client.get(
        "/api/v1/desk/tickets", params={"q": f"#{ticket}"}, headers=await bearer(staff)
    )
    assert api.json()["jump_to"] == ticket

    async with app_client_factory() as browser:
        await login(browser, alice.email)
        own = await browser.get("/tickets", params={"q": f"#{ticket}"})
        assert own.status_code == 303 and own.headers["location"] == f"/tickets/{ticket}"
        # Someone else's number is just searched for, and finds nothing.
        other = await browser.get("/tickets", params={"q": f"#{bobs}"})
        assert other.status_code == 200 and f"/tickets/{bobs}" not in other.text


async def test_the_desk_page_shows_results_with_marked_passages(client):
    department, staff, alice, _ = await _setup()
    ticket = await make_ticket(
        alice, department, "DNS\nThe zone for shop.example has no MX record."
    )
    await login(client, staff.email)
    page = await client.get("/desk", params={"q": "mx record"})
    assert page.status_code == 200
    assert f"/desk/tickets/{ticket}" in page.text
    assert "<mark>MX</mark> <mark>record</mark>" in page.text


async def test_the_index_follows_every_change(client):
    department, staff, alice, _ = await _setup()
    service = await make_service(customer_id=alice.id, name="Old name")
    ticket = await make_ticket(alice, department, "Hello\nFirst words.", service)
    reply = await reply_as_customer(
        ticket_id=ticket, customer=as_current(alice), body="Regrettable remark", files=[]
    )
    headers = await bearer(staff)
    assert await _desk_ids(client, headers, "regrettable") == [ticket]
    await delete_own_reply(ticket_id=ticket, message_id=reply, customer=as_current(alice))
    assert await _desk_ids(client, headers, "regrettable") == []

    external = (await search.Ticket.select(search.Ticket.service.external_id).first())[
        "service.external_id"
    ]
    await upsert_customer(external_id="cust-1", email="carol@new.test", name="Carol")
    assert await _desk_ids(client, headers, "carol") == []  # a new customer, no tickets
    await upsert_service(
        external_id=external,
        customer_external_id="cust-1",
        name="Renamed box",
        kind="vps",
        status="active",
    )
    assert await _desk_ids(client, headers, "renamed") == [ticket]


async def test_attachment_names_are_found(client):
    department, staff, alice, _ = await _setup()
    ticket = await make_ticket(alice, department, "Screenshot\nSee the file.")
    await reply_as_customer(
        ticket_id=ticket,
        customer=as_current(alice),
        body="Here it is",
        files=[Upload("invoice-march.png", PNG)],
    )
    assert await _desk_ids(client, await bearer(staff), "invoice march") == [ticket]


async def test_the_customer_picker_finds_customers_by_name_or_email(client):
    department, staff, alice, bob = await _setup()
    alices = await make_ticket(alice, department, "Alice's\nticket.")
    await make_ticket(bob, department, "Bob's\nticket.")
    elsewhere = await make_department(name="Domains")
    stranger = await make_user(role="customer", name="Alice Stranger", email="al@else.test")
    await make_ticket(stranger, elsewhere, "Not in Sam's departments\nat all.")
    await login(client, staff.email)

    suggestions = await client.get("/desk/customers", params={"q": "lidd"})
    assert suggestions.json()["items"] == [
        {"id": alice.id, "name": "Alice Liddell", "email": "alice@wonder.test"}
    ]
    by_email = await client.get("/desk/customers", params={"q": "AL"})
    assert [item["id"] for item in by_email.json()["items"]] == [alice.id]
    api = await client.get(
        "/api/v1/desk/customers", params={"q": "bob@"}, headers=await bearer(staff)
    )
    assert [item["email"] for item in api.json()["items"]] == ["bob@builder.test"]

    for typed in ("Alice Liddell <alice@wonder.test>", "alice@wonder.test", "Liddell"):
        page = await client.get("/desk", params={"customer": typed})
        assert page.status_code == 200, page.text
        assert f"/desk/tickets/{alices}" in page.text and "Bob&#39;s" not in page.text
    nobody = await client.get("/desk", params={"customer": "al@else.test"})
    assert nobody.status_code == 422 and "No customer of your departments" in nobody.text
    several = await client.get("/desk", params={"customer": "e"})  # AlicE, BuildEr
    assert several.status_code == 422 and "Several customers match" in several.text
