"""Happenings reach the channels once their change has committed, never before, never twice."""

from __future__ import annotations

from typing import Any

import pytest

from billdesk import jobs, outbox
from billdesk.auth import CurrentUser
from billdesk.errors import ValidationFailed
from billdesk.tables import Job
from billdesk.tickets import close_ticket, open_ticket, reply_as_staff
from tests.factories import add_member, make_department, make_user


@pytest.fixture
def heard() -> Any:
    seen: list[dict[str, Any]] = []

    @outbox.subscriber("test-recorder")
    async def record(happening: dict[str, Any]) -> None:
        seen.append(happening)

    yield seen
    outbox._subscribers.pop("test-recorder", None)


def as_user(made) -> CurrentUser:
    return CurrentUser(id=made.id, email=made.email, name=made.name, role=made.role)


async def test_a_ticket_life_is_told_to_subscribers_after_each_commit(heard):
    customer, agent = await make_user(), await make_user(role="staff")
    department = await make_department(free_tickets=None)
    await add_member(department_id=department, user_id=agent.id)
    opened = await open_ticket(customer=as_user(customer), department_id=department,
                               message="Server down\nsince noon", files=[],
                               service_id=None, accept_price=None, client_token=None)
    assert heard == []  # nothing before the worker runs
    await jobs.drain()
    await reply_as_staff(opened.ticket_id, as_user(agent), "Looking", internal=True)
    await reply_as_staff(opened.ticket_id, as_user(agent), "Fixed it")
    with pytest.raises(ValidationFailed):
        await reply_as_staff(opened.ticket_id, as_user(agent), "   ")
    await close_ticket(opened.ticket_id, as_user(agent))
    await jobs.drain()

    # Happenings of one change may reach subscribers in any order.
    told = sorted(
        (h["type"], h.get("internal") or False, h.get("old") or "", h.get("new") or "")
        for h in heard
    )
    assert told == sorted([
        ("ticket.opened", False, "", ""),
        ("ticket.assigned", False, "", agent.name),  # the agent who answers takes the ticket
        ("ticket.message_added", True, "", ""),
        ("ticket.status_changed", False, "in_progress", "waiting_for_reply"),
        ("ticket.message_added", False, "", ""),
        ("ticket.status_changed", False, "waiting_for_reply", "solved"),
    ])
    assert {h["ticket_id"] for h in heard} == {opened.ticket_id}
    assert len({h["id"] for h in heard}) == len(heard)
    assert next(h for h in heard if h["type"] == "ticket.opened")["status"] == "in_progress"
    assert {h["author_role"] for h in heard if h["type"] == "ticket.message_added"} == {"staff"}
    assert await Job.count().where(Job.status != "succeeded") == 0
