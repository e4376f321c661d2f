"""Pure rules of the desk and admin: template placeholders, queue filters, department checks."""

from __future__ import annotations

import pytest

from billdesk.departments import _check_department
from billdesk.errors import ValidationFailed
from billdesk.queues import QueueFilters
from billdesk.reply_templates import fill_placeholders

GOOD = {
    "slug": "vps-support", "name": "VPS", "description": "", "public": True, "active": True,
    "free_tickets": 3, "quota_period": "month", "ticket_price": 1500, "currency": "usd",
    "assign_on_reply": True,
}


def test_placeholders_are_filled_and_other_braces_left_alone():
    body = "Hi {customer_name}, #{ticket_id}… {department} / {agent_name} {unknown} {}"
    filled = fill_placeholders(body, {
        "customer_name": "Carla", "ticket_id": 42, "department": "Hosting", "agent_name": "Sam",
    })
    assert filled == "Hi Carla, #42… Hosting / Sam {unknown} {}"


def test_a_good_department_passes():
    assert _check_department(GOOD) == {}
    assert _check_department({**GOOD, "free_tickets": None, "ticket_price": 0}) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "-vps"}, "slug"), ({"slug": "vps--x"}, "slug"), ({"slug": "VPS"}, "slug"),
        ({"free_tickets": -1}, "free_tickets"), ({"free_tickets": True}, "free_tickets"),
        ({"ticket_price": -1}, "ticket_price"), ({"ticket_price": 1.5}, "ticket_price"),
        ({"currency": "eu"}, "currency"), ({"currency": "EUR"}, "currency"),
        ({"quota_period": "day"}, "quota_period"), ({"public": "yes"}, "public"),
    ],
)
def test_bad_department_values_name_their_field(changes, field):
    assert field in _check_department({**GOOD, **changes})


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (QueueFilters(statuses=["awaiting_payment"]), "status"),
        (QueueFilters(assignee="someone"), "assignee"),
        (QueueFilters(sort="subject"), "sort"),
        (QueueFilters(q="x" * 201), "q"),
    ],
)
def test_queue_filters_refuse_nonsense(filters, field):
    with pytest.raises(ValidationFailed) as refused:
        filters.check()
    assert field in refused.value.errors


def test_default_queue_is_the_open_tickets():
    filters = QueueFilters()
    filters.check()
    assert filters.statuses == ["in_progress", "waiting_for_reply"]
