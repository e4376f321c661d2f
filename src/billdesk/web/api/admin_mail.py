"""The JSON twin of /admin/mail (the sent and the received mail logs, retry), and
the invitation of a billing-synced customer to set their password."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from billdesk import passwords
from billdesk.auth import requires_admin
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.mail import inbound, outgoing
from billdesk.tables import InboundMail, OutgoingMail
from billdesk.web.api.desk import rfc3339
from billdesk.web.paging import keyset_page, parse_limit
from billdesk.web.params import CursorQuery, IdQuery, LimitQuery


class MailOut(msgspec.Struct):
    id: int
    kind: str
    to: str
    subject: str
    ticket_id: int | None
    status: str
    tries: int
    last_error: str
    created_at: str | None
    sent_at: str | None


class MailList(msgspec.Struct):
    items: list[MailOut]
    next_cursor: str | None


class InboundOut(msgspec.Struct):
    id: int
    message_id: str
    sender: str
    recipient: str
    subject: str
    source: str
    outcome: str
    reason: str
    ticket_id: int | None
    received_at: str | None


class InboundList(msgspec.Struct):
    items: list[InboundOut]
    next_cursor: str | None


class InviteOut(msgspec.Struct):
    user_id: int
    email: str
    mail: MailOut


def mail_out(row: dict[str, Any]) -> MailOut:
    return MailOut(
        id=row["id"],
        kind=row["kind"],
        to=row["to_address"],
        subject=row["subject"],
        ticket_id=row["ticket"],
        status=row["status"],
        tries=row["tries"],
        last_error=row["last_error"],
        created_at=rfc3339(row["created_at"]),
        sent_at=rfc3339(row["sent_at"]),
    )


def inbound_out(row: dict[str, Any]) -> InboundOut:
    return InboundOut(
        id=row["id"],
        message_id=row["message_id"],
        sender=row["sender"],
        recipient=row["recipient"],
        subject=row["subject"],
        source=row["source"],
        outcome=row["outcome"],
        reason=row["reason"],
        ticket_id=row["ticket"],
        received_at=rfc3339(row["received_at"]),
    )


class AdminMailApiController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/mail")
    async def list_mail(
        self,
        status: FromQuery[str | None] = None,
        ticket_id: IdQuery = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> MailList:
        """Every mail billdesk decided to send, newest first: to, subject, ticket, status
        (`queued`, `sent`, `failed`, `unsent`), tries, last error. Filters `status`, `ticket_id`."""
        rows, next_cursor = await keyset_page(
            outgoing.mails_query(status=status or None, ticket_id=ticket_id),
            sort=None,
            id_column=OutgoingMail.id,
            limit=parse_limit(limit),
            cursor=cursor,
        )
        return MailList(items=[mail_out(row) for row in rows], next_cursor=next_cursor)

    @get("/mail/inbound")
    async def list_inbound(
        self,
        outcome: FromQuery[str | None] = None,
        limit: LimitQuery = None,
        cursor: CursorQuery = None,
    ) -> InboundList:
        """Every mail received, newest first, with what became of it (`replied`, `opened`,
        `refused`, `ignored`, `duplicate`) and why. Filter `outcome`."""
        rows, next_cursor = await keyset_page(
            inbound.inbound_query(outcome=outcome or None),
            sort=None,
            id_column=InboundMail.id,
            limit=parse_limit(limit),
            cursor=cursor,
        )
        return InboundList(items=[inbound_out(row) for row in rows], next_cursor=next_cursor)

    @post("/mail/{mail_id:int}/retry", status_code=HTTP_200_OK)
    async def retry_mail(self, mail_id: FromPath[int]) -> MailOut:
        """Send a failed or unsent mail again, now; other statuses → 409 `invalid_transition`."""
        return mail_out(await outgoing.retry_mail(mail_id))

    @post("/customers/{external_id:str}/invite", status_code=HTTP_202_ACCEPTED)
    async def invite_customer(self, external_id: FromPath[str]) -> InviteOut:
        """Mail a customer of the billing sync a link to set their password (valid 7 days,
        usable once) → 202 with the queued mail; an unknown external id → 404."""
        if not external_id or len(external_id) > 100:
            raise ValidationFailed.field("external_id", tr("external_id is 1 to 100 characters."))
        invited = await passwords.invite_customer(external_id)
        return InviteOut(
            user_id=invited["user_id"], email=invited["email"], mail=mail_out(invited["mail"])
        )
