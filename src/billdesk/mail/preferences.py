"""Which mails each person wants. Everything is on until the person turns it off."""

from __future__ import annotations

from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import MailPreference, User

CUSTOMER_CHOICES: list[tuple[str, str]] = [
    ("staff_reply", tr("Support answers one of my tickets (the answer is in the mail)")),
    ("ticket_solved", tr("Support marks one of my tickets solved")),
    ("payment_failed", tr("A payment for a ticket fails or needs me to act")),
    ("inactivity_reminder", tr("A ticket waiting for my reply is about to be closed")),
    ("rating_request", tr("Support asks how a solved ticket went")),
]
STAFF_CHOICES: list[tuple[str, str]] = [
    ("new_ticket", tr("A new ticket arrives in one of my departments")),
    ("customer_reply", tr("A customer answers on a ticket assigned to me")),
    ("paid_ticket", tr("A paid ticket joins the queue of one of my departments")),
    ("sla_escalation", tr("A ticket of mine (or unassigned, of my department) nears or passes its target")),
]
KINDS = tuple(name for name, _ in CUSTOMER_CHOICES + STAFF_CHOICES)


def choices_for(role: str) -> list[tuple[str, str]]:
    """The mails a person of `role` can choose (finance gets none)."""
    if role == User.Role.customer.value:
        return CUSTOMER_CHOICES
    if role in (User.Role.staff.value, User.Role.admin.value):
        return STAFF_CHOICES
    return []


async def preferences(user_id: int) -> dict[str, bool]:
    """Every kind, on or off for this person."""
    row = await MailPreference.select().where(MailPreference.user == user_id).first()
    return {kind: bool(row[kind]) if row else True for kind in KINDS}


async def set_preferences(*, user_id: int, role: str, wanted: dict[str, bool]) -> dict[str, bool]:
    """Turn the person's choices on or off; kinds their role cannot choose are refused."""
    allowed = {name for name, _ in choices_for(role)}
    unknown = sorted(set(wanted) - allowed)
    if unknown:
        raise ValidationFailed.field(
            unknown[0],
            tr(
                "%(kind)s is not a mail you can choose; choose from: %(choices)s",
                kind=unknown[0],
                choices=", ".join(sorted(allowed)) or "-",
            ),
        )
    for kind, value in wanted.items():
        if not isinstance(value, bool):
            raise ValidationFailed.field(kind, tr("%(field)s must be true or false.", field=kind))
    current = await preferences(user_id)
    current.update(wanted)
    row = MailPreference(user=user_id)
    for kind, value in current.items():
        setattr(row, kind, value)
    await MailPreference.insert(row).on_conflict(
        target=MailPreference.user,
        action="DO UPDATE",
        values=[getattr(MailPreference, kind) for kind in KINDS],
    )
    return current


async def wanting(user_ids: list[int], kind: str) -> set[int]:
    """Those of `user_ids` who want mails of `kind` (one query)."""
    if not user_ids:
        return set()
    column = getattr(MailPreference, kind)
    off = await (
        MailPreference.select(MailPreference.user)
        .where(MailPreference.user.is_in(user_ids) & (column == False))  # noqa: E712
        .output(as_list=True)
    )
    return set(user_ids) - set(off)
