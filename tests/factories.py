"""Small factories for test data, and helpers that act as a person would."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from litestar.testing import AsyncTestClient

from billdesk.accounts import create_user
from billdesk.auth import create_api_token
from billdesk.tables import Department, DepartmentMember, Service

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass(frozen=True)
class MadeUser:
    id: int
    email: str
    name: str
    role: str


async def make_user(
    *, role: str = "customer", email: str | None = None, name: str | None = None,
    active: bool = True, external_id: str | None = None,
) -> MadeUser:
    n = next(_counter)
    email = email or f"{role}{n}@example.test"
    name = name or f"{role.title()} {n}"
    user_id = await create_user(
        email=email, name=name, role=role, password=PASSWORD, active=active, external_id=external_id
    )
    return MadeUser(id=user_id, email=email, name=name, role=role)


async def make_department(
    *, name: str | None = None, free_tickets: int | None = 3, quota_period: str = "month",
    ticket_price: int = 1500, currency: str = "usd", public: bool = True, active: bool = True,
) -> int:
    n = next(_counter)
    rows = await Department.insert(
        Department(
            name=name or f"Department {n}", slug=f"department-{n}", free_tickets=free_tickets,
            quota_period=quota_period, ticket_price=ticket_price, currency=currency,
            public=public, active=active,
        )
    ).returning(Department.id)
    return rows[0]["id"]


async def add_member(*, department_id: int, user_id: int) -> None:
    await DepartmentMember.insert(
        DepartmentMember(key=f"{department_id}:{user_id}", department=department_id, user=user_id)
    )


async def make_service(
    *, customer_id: int, name: str = "VPS-1", kind: str = "vps", status: str = "active"
) -> int:
    n = next(_counter)
    rows = await Service.insert(
        Service(customer=customer_id, name=name, kind=kind, status=status, external_id=f"svc-t{n}")
    ).returning(Service.id)
    return rows[0]["id"]


async def make_token(user: MadeUser) -> str:
    _, secret = await create_api_token(user_id=user.id, name="test")
    return secret


def csrf_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def form_token(client: AsyncTestClient, path: str = "/login") -> str:
    page = await client.get(path)
    return csrf_token(page.text)


async def login(client: AsyncTestClient, email: str, password: str = PASSWORD):
    token = await form_token(client, "/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}
    )


def as_current(user: MadeUser):
    """The CurrentUser a request by this user would carry."""
    from billdesk.auth import CurrentUser

    return CurrentUser(id=user.id, email=user.email, name=user.name, role=user.role)


async def make_ticket(
    customer: MadeUser, department_id: int, message: str = "My server is down\nSince noon.",
    service_id: int | None = None,
) -> int:
    """A ticket opened by the customer through the one write path (uses their quota)."""
    from billdesk.tickets import open_ticket

    opened = await open_ticket(
        customer=as_current(customer), department_id=department_id, service_id=service_id,
        message=message, files=[], accept_price=None, client_token=None,
    )
    return opened.ticket_id
