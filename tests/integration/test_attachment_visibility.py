"""Staff download an attachment exactly when the desk shows them its ticket."""

from __future__ import annotations

from billdesk.attachments import Upload
from billdesk.tables import Attachment, Ticket
from billdesk.tickets import open_ticket
from tests.factories import add_member, as_current, login, make_department, make_token, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_hidden_tickets_hide_their_files_from_staff(client, app_client_factory):
    customer, staff, admin = (
        await make_user(role="customer"), await make_user(role="staff"), await make_user(role="admin")
    )
    department = await make_department()
    await add_member(department_id=department, user_id=staff.id)
    opened = await open_ticket(
        customer=as_current(customer), department_id=department, service_id=None,
        message="See the screenshot", files=[Upload("shot.png", PNG)], accept_price=None,
        client_token=None,
    )
    ticket_id = opened.ticket_id
    attachment_id = (await Attachment.select(Attachment.id).first())["id"]
    tokens = {"staff": await make_token(staff), "admin": await make_token(admin)}

    async def seen(role: str) -> tuple[int, int, int]:
        """(the ticket over the API, the file over the API, the file as a page) for `role`."""
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        ticket = await client.get(f"/api/v1/desk/tickets/{ticket_id}", headers=headers)
        file = await client.get(f"/api/v1/attachments/{attachment_id}", headers=headers)
        async with app_client_factory() as browser:
            await login(browser, staff.email if role == "staff" else admin.email)
            page = await browser.get(f"/attachments/{attachment_id}")
        return ticket.status_code, file.status_code, page.status_code

    assert await seen("staff") == (200, 200, 200)

    await Ticket.update({Ticket.status: "awaiting_payment"}).where(Ticket.id == ticket_id)
    assert await seen("staff") == (404, 404, 404)
    assert await seen("admin") == (404, 404, 404)

    await Ticket.update({Ticket.status: "in_progress", Ticket.removed_at: Ticket.created_at}).where(
        Ticket.id == ticket_id
    )
    assert await seen("staff") == (404, 404, 404)
    assert await seen("admin") == (200, 200, 200)  # admins open tickets in the trash
