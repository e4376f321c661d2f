"""Test data for the desk and admin tests: tickets as the client area leaves them,
and a world of departments, staff and customers to try every role on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billdesk.search import reindex_tickets
from billdesk.tables import Message, Ticket
from tests.factories import MadeUser, add_member, make_department, make_token, make_user


async def make_desk_ticket(
    *, customer_id: int, department_id: int, subject: str = "Server is down",
    status: str = "in_progress", assignee_id: int | None = None, service_id: int | None = None,
    minutes_ago: int = 0, removed: bool = False, body: str | None = None,
) -> int:
    """A ticket with its opening message, written straight to the tables."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    rows = await Ticket.insert(
        Ticket(
            customer=customer_id, department=department_id, service=service_id,
            subject=subject, status=status, assignee=assignee_id, created_at=when,
            last_message_at=when, removed_at=when if removed else None,
        )
    ).returning(Ticket.id)
    ticket_id = rows[0]["id"]
    await Message.insert(
        Message(ticket=ticket_id, author=customer_id, body=body or subject, opening=True,
                created_at=when)
    )
    await reindex_tickets([ticket_id])
    return ticket_id


@dataclass
class World:
    """Two departments: `staff` works in `department`, `other_staff` in `other_department`."""

    department: int
    other_department: int
    customer: MadeUser
    staff: MadeUser
    other_staff: MadeUser
    finance: MadeUser
    admin: MadeUser
    ticket: int
    other_ticket: int

    def by_role(self, role: str) -> MadeUser | None:
        return {
            "anonymous": None, "customer": self.customer, "staff": self.staff,
            "other_staff": self.other_staff, "finance": self.finance, "admin": self.admin,
        }[role]


async def make_world() -> World:
    department = await make_department(name="Hosting")
    other_department = await make_department(name="Domains")
    customer = await make_user(role="customer", name="Carla Customer")
    staff = await make_user(role="staff", name="Sam Staff")
    other_staff = await make_user(role="staff", name="Olga Other")
    finance = await make_user(role="finance")
    admin = await make_user(role="admin", name="Ada Admin")
    await add_member(department_id=department, user_id=staff.id)
    await add_member(department_id=other_department, user_id=other_staff.id)
    ticket = await make_desk_ticket(customer_id=customer.id, department_id=department)
    other_ticket = await make_desk_ticket(
        customer_id=customer.id, department_id=other_department, subject="Domain transfer"
    )
    return World(
        department=department, other_department=other_department, customer=customer,
        staff=staff, other_staff=other_staff, finance=finance, admin=admin, ticket=ticket,
        other_ticket=other_ticket,
    )


async def bearer(user: MadeUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(user)}"}
