"""Who gets which mail when something happens to a ticket or its charge: billdesk's
mail subscriber to the outbox (billdesk.outbox). It only decides and queues; the
`mail.send` jobs send. Internal notes never leave billdesk.

| happening | mail |
| --- | --- |
| a public staff reply | the customer: `staff_reply`, with the reply |
| a customer reply | the ticket's assignee: `customer_reply` |
| a ticket opened, in progress | the staff of its department: `new_ticket` |
| a ticket opened by mail | the customer: `mail_received`, or `confirm_price` beyond the quota |
| solved by someone other than the customer | the customer: `ticket_solved` |
| paid (awaiting payment → in progress) | the staff of its department: `paid_ticket` |
| a payment failed or needs the customer | the customer: `payment_failed`, with the pay link |

Each person's choices (`mail.preferences`) apply, except to the answers to a
customer's own mail. Nobody is mailed about what they did themselves. Each mail
is keyed by (happening, kind, person), so a happening told twice mails once.
"""

from __future__ import annotations

from typing import Any

from billdesk import outbox
from billdesk.mail import preferences
from billdesk.mail.outgoing import queue_mail, ticket_summary
from billdesk.tables import DepartmentMember, Message, User
from billdesk.tickets.lifecycle import Status

STAFF_ROLES = (User.Role.staff.value, User.Role.admin.value)


async def _people(user_ids: list[int], *, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    if not user_ids:
        return []
    return await User.select(User.id, User.email, User.role).where(
        User.id.is_in(user_ids) & (User.active == True) & User.role.is_in(list(roles))  # noqa: E712
    )


async def _mail_people(
    happening: dict[str, Any],
    kind: str,
    user_ids: list[int],
    *,
    roles: tuple[str, ...],
    ticket: dict[str, Any],
    params: dict[str, Any] | None = None,
    chosen: bool = True,
) -> None:
    """Queue `kind` for each active person of `roles` among `user_ids`, who wants it,
    other than whoever caused the happening."""
    user_ids = [uid for uid in dict.fromkeys(user_ids) if uid != happening.get("actor_id")]
    if chosen:
        wanted = await preferences.wanting(user_ids, kind)
        user_ids = [uid for uid in user_ids if uid in wanted]
    for person in await _people(user_ids, roles=roles):
        await queue_mail(
            kind=kind,
            to_address=person["email"],
            user_id=person["id"],
            ticket=ticket,
            params=params,
            dedupe_key=f"{happening['id']}:{kind}:{person['id']}",
        )


async def _department_staff(department_id: int) -> list[int]:
    return await (
        DepartmentMember.select(DepartmentMember.user)
        .where(DepartmentMember.department == department_id)
        .output(as_list=True)
    )


async def _opened_by_mail(ticket_id: int) -> bool:
    channel = await (
        Message.select(Message.channel)
        .where((Message.ticket == ticket_id) & (Message.opening == True))  # noqa: E712
        .first()
    )
    return channel is not None and channel["channel"] == Message.Channel.mail.value


@outbox.subscriber("mail")
async def mail_on(happening: dict[str, Any]) -> None:
    """Decide the mails a happening causes and queue them."""
    kind = happening["type"]
    if kind == outbox.MESSAGE_ADDED and happening.get("internal"):
        return  # an internal note never leaves billdesk
    if kind not in (
        outbox.MESSAGE_ADDED,
        outbox.TICKET_OPENED,
        outbox.STATUS_CHANGED,
        outbox.CHARGE_PAYMENT_FAILED,
    ):
        return
    ticket = await ticket_summary(happening["ticket_id"])
    if ticket is None:
        return
    customer = [ticket["customer"]]
    customer_role = (User.Role.customer.value,)

    if kind == outbox.MESSAGE_ADDED:
        if happening.get("author_role") == User.Role.customer.value:
            if ticket["assignee"] is not None:
                await _mail_people(
                    happening,
                    "customer_reply",
                    [ticket["assignee"]],
                    roles=STAFF_ROLES,
                    ticket=ticket,
                    params={"message_id": happening["message_id"]},
                )
        elif happening.get("author_role") in STAFF_ROLES:
            await _mail_people(
                happening,
                "staff_reply",
                customer,
                roles=customer_role,
                ticket=ticket,
                params={"message_id": happening["message_id"]},
            )
    elif kind == outbox.TICKET_OPENED:
        if happening.get("status") == Status.in_progress.value:
            await _mail_people(
                happening,
                "new_ticket",
                await _department_staff(ticket["department_id"]),
                roles=STAFF_ROLES,
                ticket=ticket,
            )
        if await _opened_by_mail(ticket["id"]):
            answer = "confirm_price" if ticket["price_unconfirmed"] else "mail_received"
            await _mail_people(
                {**happening, "actor_id": None},
                answer,
                customer,
                roles=customer_role,
                ticket=ticket,
                chosen=False,
                params={"amount": ticket["price_amount"], "currency": ticket["price_currency"]},
            )
    elif kind == outbox.STATUS_CHANGED:
        old, new = happening.get("old"), happening.get("new")
        if new == Status.solved.value and old != Status.solved.value:
            # A cancelled unpaid ticket is the customer's doing; a merged one is told in-app.
            if old != Status.awaiting_payment.value and ticket["merged_into"] is None:
                await _mail_people(
                    happening, "ticket_solved", customer, roles=customer_role, ticket=ticket
                )
        elif old == Status.awaiting_payment.value and new == Status.in_progress.value:
            await _mail_people(
                happening,
                "paid_ticket",
                await _department_staff(ticket["department_id"]),
                roles=STAFF_ROLES,
                ticket=ticket,
            )
    elif kind == outbox.CHARGE_PAYMENT_FAILED:
        await _mail_people(
            {**happening, "actor_id": None},
            "payment_failed",
            customer,
            roles=customer_role,
            ticket=ticket,
            params={"reason": happening.get("reason", "")},
        )
