"""Two agents on one ticket: the second reply is held back with the new messages until
forced, and each ticket page shows who else has it open."""

from __future__ import annotations

from datetime import timedelta

from billdesk.tables import Message
from tests.desk_support import bearer
from tests.factories import add_member, csrf_token, login, make_department, make_ticket, make_user


async def _two_agents_and_a_ticket():
    department = await make_department(free_tickets=None)
    customer = await make_user(role="customer", name="Carla")
    first = await make_user(role="staff", name="Ann Agent")
    second = await make_user(role="staff", name="Ben Agent")
    for agent in (first, second):
        await add_member(department_id=department, user_id=agent.id)
    ticket = await make_ticket(customer, department, "Site down\nPlease help.")
    return ticket, first, second


async def _message_count(ticket: int) -> int:
    return await Message.count().where(Message.ticket == ticket)


async def test_the_second_reply_is_held_with_the_new_messages_until_forced(client):
    ticket, ann, ben = await _two_agents_and_a_ticket()
    ann_headers, ben_headers = await bearer(ann), await bearer(ben)
    # Both load the ticket and see the same newest message.
    seen_by_ann = (await client.get(f"/api/v1/desk/tickets/{ticket}", headers=ann_headers)).json()
    seen_by_ben = (await client.get(f"/api/v1/desk/tickets/{ticket}", headers=ben_headers)).json()
    last_seen = seen_by_ann["messages"][-1]["id"]
    assert seen_by_ben["messages"][-1]["id"] == last_seen

    url = f"/api/v1/desk/tickets/{ticket}/messages"
    first = await client.post(
        url,
        json={"body": "Restarting it now.", "last_seen_message_id": last_seen},
        headers=ann_headers,
    )
    assert first.status_code == 201, first.text
    second = await client.post(
        url,
        json={"body": "Have you tried turning it off?", "last_seen_message_id": last_seen},
        headers=ben_headers,
    )
    assert second.status_code == 409, second.text
    problem = second.json()
    assert problem["code"] == "stale_reply"
    assert [m["body"] for m in problem["messages"]] == ["Restarting it now."]
    assert problem["messages"][0]["author"]["name"] == "Ann Agent"
    assert problem["last_message_id"] == first.json()["id"]
    assert await _message_count(ticket) == 2  # nothing was sent

    forced = await client.post(
        url,
        json={
            "body": "Have you tried turning it off?",
            "last_seen_message_id": last_seen,
            "force": True,
        },
        headers=ben_headers,
    )
    assert forced.status_code == 201, forced.text
    assert await _message_count(ticket) == 3
    # Having read the new messages, a reply naming the newest one goes through.
    edited = await client.post(
        url,
        json={"body": "Fixed.", "last_seen_message_id": forced.json()["id"]},
        headers=ann_headers,
    )
    assert edited.status_code == 201
    # Without last_seen_message_id a reply is not checked, as before.
    plain = await client.post(url, json={"body": "Unchecked."}, headers=ben_headers)
    assert plain.status_code == 201


async def test_internal_notes_count_as_new_messages_too(client):
    ticket, ann, ben = await _two_agents_and_a_ticket()
    detail = (await client.get(f"/api/v1/desk/tickets/{ticket}", headers=await bearer(ben))).json()
    url = f"/api/v1/desk/tickets/{ticket}/messages"
    await client.post(url, json={"body": "I am on it", "internal": True}, headers=await bearer(ann))
    held = await client.post(
        url,
        json={"body": "Hello", "last_seen_message_id": detail["messages"][-1]["id"]},
        headers=await bearer(ben),
    )
    assert held.status_code == 409 and held.json()["messages"][0]["internal"] is True


async def test_bad_collision_fields_are_refused_by_name(client):
    ticket, ann, _ = await _two_agents_and_a_ticket()
    url = f"/api/v1/desk/tickets/{ticket}/messages"
    headers = await bearer(ann)
    for payload, field in (
        ({"body": "x", "last_seen_message_id": "abc"}, "last_seen_message_id"),
        ({"body": "x", "last_seen_message_id": True}, "last_seen_message_id"),
        ({"body": "x", "force": "yes"}, "force"),
    ):
        answer = await client.post(url, json=payload, headers=headers)
        assert answer.status_code == 422, answer.text
        assert [error["field"] for error in answer.json()["errors"]] == [field]
    assert await _message_count(ticket) == 1


async def test_the_reply_form_warns_and_offers_to_send_anyway(client, app_client_factory):
    ticket, ann, ben = await _two_agents_and_a_ticket()
    await login(client, ben.email)
    page = await client.get(f"/desk/tickets/{ticket}")
    token = csrf_token(page.text)
    assert 'name="last_seen_message_id"' in page.text
    last_seen = (await Message.select(Message.id).where(Message.ticket == ticket).first())["id"]

    async with app_client_factory() as other:
        await login(other, ann.email)
        other_page = await other.get(f"/desk/tickets/{ticket}")
        answered = await other.post(
            f"/desk/tickets/{ticket}/reply",
            data={
                "body": "Ann was first",
                "last_seen_message_id": str(last_seen),
                "_csrf_token": csrf_token(other_page.text),
            },
        )
        assert answered.status_code in (302, 303)

    held = await client.post(
        f"/desk/tickets/{ticket}/reply",
        data={"body": "Ben's draft", "last_seen_message_id": str(last_seen), "_csrf_token": token},
    )
    assert held.status_code == 409
    assert "Send anyway" in held.text and "Ben&#39;s draft" in held.text
    assert "message--new" in held.text and "Ann was first" in held.text
    assert await _message_count(ticket) == 2
    forced = await client.post(
        f"/desk/tickets/{ticket}/reply",
        data={
            "body": "Ben's draft",
            "last_seen_message_id": str(last_seen),
            "force": "1",
            "_csrf_token": csrf_token(held.text),
        },
    )
    assert forced.status_code in (302, 303)
    assert await _message_count(ticket) == 3


async def test_the_ticket_page_shows_who_else_has_it_open(client, app_client_factory, clock):
    ticket, ann, ben = await _two_agents_and_a_ticket()
    await login(client, ann.email)
    await client.get(f"/desk/tickets/{ticket}")
    async with app_client_factory() as other:
        await login(other, ben.email)
        page = await other.get(f"/desk/tickets/{ticket}")
        assert "Also viewing:" in page.text and "Ann Agent" in page.text
        beat = await other.get(f"/desk/tickets/{ticket}/presence", params={"typing": "1"})
        assert beat.json()["viewers"] == [{"id": ann.id, "name": "Ann Agent", "typing": False}]
    # Ann sees that Ben is writing; the API answers the same.
    mine = await client.get(f"/desk/tickets/{ticket}/presence")
    assert mine.json()["viewers"] == [{"id": ben.id, "name": "Ben Agent", "typing": True}]
    api = await client.get(f"/api/v1/desk/tickets/{ticket}/presence", headers=await bearer(ann))
    assert [viewer["name"] for viewer in api.json()["viewers"]] == ["Ben Agent"]
    clock.advance(timedelta(seconds=31))
    gone = await client.get(f"/desk/tickets/{ticket}/presence")
    assert gone.json()["viewers"] == []


async def test_old_presence_is_forgotten(client, clock):
    from billdesk.presence import forget_old_viewers
    from billdesk.tables import TicketViewer

    ticket, ann, _ = await _two_agents_and_a_ticket()
    await login(client, ann.email)
    await client.get(f"/desk/tickets/{ticket}")
    clock.advance(timedelta(minutes=59))
    await forget_old_viewers()
    assert await TicketViewer.count() == 1
    clock.advance(timedelta(minutes=2))
    await forget_old_viewers()
    assert await TicketViewer.count() == 0
