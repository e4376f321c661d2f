"""The demo data: departments, customers with services, staff, finance and an admin.

Loading it twice changes nothing: every row is found by its natural key first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billdesk.accounts import create_user
from billdesk.tables import Department, DepartmentMember, ReplyTemplate, Service, Ticket, User

PASSWORD = "demo-password"  # noqa: S105  (printed for the demo on purpose)


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    external_id: str | None = None


DEPARTMENTS: list[dict[str, Any]] = [
    dict(
        slug="technical-support",
        name="Technical support",
        description="Servers, hosting, e-mail and DNS problems.",
        free_tickets=3,
        quota_period="month",
        ticket_price=1500,
        currency="usd",
    ),
    dict(
        slug="billing",
        name="Billing",
        description="Invoices, payments and refunds. Always free.",
        free_tickets=None,
        quota_period="month",
        ticket_price=0,
        currency="usd",
    ),
    dict(
        slug="premium-administration",
        name="Premium administration",
        description="Hands-on server administration by our engineers, charged per ticket.",
        free_tickets=0,
        quota_period="month",
        ticket_price=4900,
        currency="usd",
    ),
]

USERS = [
    DemoUser("alice@example.com", "Alice Customer", "customer", "cust-1001"),
    DemoUser("bob@example.com", "Bob Customer", "customer", "cust-1002"),
    DemoUser("tech@example.com", "Tina Tech", "staff"),
    DemoUser("billing@example.com", "Bill Ledger", "staff"),
    DemoUser("premium@example.com", "Pete Premium", "staff"),
    DemoUser("finance@example.com", "Fiona Finance", "finance"),
    DemoUser("admin@example.com", "Ada Admin", "admin"),
]

MEMBERS = {
    "tech@example.com": "technical-support",
    "billing@example.com": "billing",
    "premium@example.com": "premium-administration",
}

SERVICES = [
    ("cust-1001", "svc-1", "VPS-2 Frankfurt (vps-2041)", "vps", "active"),
    ("cust-1001", "svc-2", "alice-bakery.com", "domain", "active"),
    ("cust-1001", "svc-3", "Shared hosting Start", "hosting", "active"),
    ("cust-1002", "svc-4", "VPS-4 Amsterdam (vps-3307)", "vps", "active"),
    ("cust-1002", "svc-5", "bobs-garage.net", "domain", "suspended"),
]


# Tickets opened through the domain, so staff and customers start on a desk with work on
# it: (customer, department, message, who moves it next: None, a staff reply, or closing).
TICKETS = [
    ("alice@example.com", "technical-support",
     "My VPS is unreachable since this morning\nPing to vps-2041 times out from Berlin.", None),
    ("alice@example.com", "billing",
     "Invoice 2026-114 shows the wrong company name\nIt should read Alice's Bakery GmbH.",
     "reply"),
    ("bob@example.com", "technical-support",
     "Mail to bobs-garage.net bounces\nEvery mail comes back since Monday.", "close"),
]

TEMPLATES: list[tuple[str, str, str | None, str]] = [
    ("Looking into it", "global", None,
     "Hello {customer_name},\n\nwe are looking into {ticket_id} and will write back within "
     "the hour.\n\n{agent_name}"),
    ("Suspended domain", "department", "technical-support",
     "Hello {customer_name},\n\nthe domain is suspended until its renewal is paid; mail to it "
     "bounces until then. Billing can help with the invoice.\n\n{agent_name}"),
]


async def _load_tickets(departments: dict[str, int], users: dict[str, int]) -> None:
    from billdesk import tickets
    from billdesk.auth import CurrentUser

    staff_of = {slug: email for email, slug in MEMBERS.items()}

    def person(email: str) -> CurrentUser:
        spec = next(u for u in USERS if u.email == email)
        return CurrentUser(id=users[email], email=email, name=spec.name, role=spec.role)

    for customer, slug, message, then in TICKETS:
        subject = message.split("\n", 1)[0]
        if await Ticket.exists().where(
            (Ticket.customer == users[customer]) & (Ticket.subject == subject)
        ):
            continue
        opened = await tickets.open_ticket(
            customer=person(customer), department_id=departments[slug], service_id=None,
            message=message, files=[], accept_price=None, client_token=None,
        )
        agent = person(staff_of[slug])
        if then == "reply":
            await tickets.reply_as_staff(
                ticket_id=opened.ticket_id, author=agent, internal=False, files=[],
                body="Thank you, we have corrected the invoice. Could you check the new copy?",
            )
        elif then == "close":
            await tickets.reply_as_staff(
                ticket_id=opened.ticket_id, author=agent, internal=False, files=[],
                body="The domain is suspended for an unpaid renewal; mail works again once paid.",
            )
            await tickets.close_ticket(opened.ticket_id, agent)

    for title, scope, template_slug, text in TEMPLATES:
        if not await ReplyTemplate.exists().where(ReplyTemplate.title == title):
            await ReplyTemplate.insert(ReplyTemplate(
                title=title, body=text, scope=scope,
                department=departments[template_slug] if template_slug else None,
            ))


async def load_demo() -> list[DemoUser]:
    """Create what is missing of the demo data; returns the demo logins."""
    departments = {}
    for spec in DEPARTMENTS:
        row = await Department.select(Department.id).where(Department.slug == spec["slug"]).first()
        if row is None:
            rows = await Department.insert(Department(**spec)).returning(Department.id)
            row = rows[0]
        departments[spec["slug"]] = row["id"]

    users = {}
    for demo_user in USERS:
        row = await User.select(User.id).where(User.email == demo_user.email).first()
        users[demo_user.email] = (
            row["id"]
            if row
            else await create_user(
                email=demo_user.email,
                name=demo_user.name,
                role=demo_user.role,
                password=PASSWORD,
                external_id=demo_user.external_id,
            )
        )

    for email, slug in MEMBERS.items():
        key = f"{departments[slug]}:{users[email]}"
        if not await DepartmentMember.exists().where(DepartmentMember.key == key):
            await DepartmentMember.insert(
                DepartmentMember(key=key, department=departments[slug], user=users[email])
            )

    by_external = {u.external_id: users[u.email] for u in USERS if u.external_id}
    for customer, external_id, name, kind, status in SERVICES:
        if not await Service.exists().where(Service.external_id == external_id):
            await Service.insert(
                Service(
                    customer=by_external[customer],
                    external_id=external_id,
                    name=name,
                    kind=kind,
                    status=status,
                )
            )
    await _load_tickets(departments, users)
    return USERS
