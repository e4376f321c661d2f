"""Setting a password through a mailed link: "forgot password", the invitation of a
customer synced from the billing system, and the change on the account page.

A link holds a random secret; only its sha256 is stored. It works once, until it
expires (an hour for a reset, a week for an invitation); using it ends every
session of the account, revokes its API tokens (as an admin's new password does)
and voids the account's other links. Asking for a reset
never tells whether the address has an account: the answer and the work done in
the request are the same, and the lookup happens in a job.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from billdesk import audit, clock, jobs
from billdesk.accounts import EMAIL, check_password, end_access
from billdesk.auth import CurrentUser, hashed, normalize_email, password_matches
from billdesk.errors import DeskError, NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import OutgoingMail, PasswordToken, Session, User
from billdesk.tickets.lifecycle import locked_row, write_transaction

log = logging.getLogger("billdesk.passwords")

Purpose = PasswordToken.Purpose
LIFETIMES = {
    Purpose.reset.value: (timedelta(hours=1), tr("one hour")),
    Purpose.invite.value: (timedelta(days=7), tr("7 days")),
}
# Reset mails to one account in an hour, at most: the form cannot be used to flood a mailbox.
RESETS_PER_HOUR = 3
RESET_REQUESTED = "passwords.reset_requested"


class LinkNotValid(DeskError):
    code = "not_found"
    status = 404
    title = tr("This link does not work any more")


NOT_VALID = (
    "This link does not work any more: it was used already, or it expired. Ask for a new one below."
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_new_password(password: str, repeat: str | None) -> str:
    """The password if it may be set (accounts.check_password) and was typed twice alike."""
    check_password(password)
    if repeat is not None and repeat != password:
        raise ValidationFailed.field("password_repeat", tr("The two passwords are not the same."))
    return password


# ------------------------------------------------------------------ asking


async def request_reset(email: str) -> None:
    """Someone asks for a reset link for `email`: one job, whatever the address.

    Only the address's form is checked here (ValidationFailed naming `email`).
    """
    address = normalize_email(email)
    if not EMAIL.match(address) or len(address) > 254:
        raise ValidationFailed.field("email", tr("Enter an email address like name@example.com."))
    await jobs.enqueue(RESET_REQUESTED, {"email": address})


@jobs.handler(RESET_REQUESTED, max_attempts=5)
async def reset_requested(payload: dict) -> None:
    """Mail a reset link when the address belongs to an active account (a few an hour at most)."""
    from billdesk.mail.outgoing import queue_mail

    user = (
        await User.select(User.id, User.email, User.active)
        .where(User.email == payload["email"])
        .first()
    )
    if user is None or not user["active"]:
        log.info("password reset asked for an address without an active account")
        return
    async with write_transaction():
        # The account's row, locked: requests handled at the same moment count in turn.
        await locked_row(User, user["id"])
        recent = await OutgoingMail.count().where(
            (OutgoingMail.user == user["id"])
            & (OutgoingMail.kind == "password_reset")
            & (OutgoingMail.created_at > clock.now() - timedelta(hours=1))
        )
        if recent >= RESETS_PER_HOUR:
            log.info("password reset for user %s: %s mails this hour already", user["id"], recent)
            return
        await queue_mail(kind="password_reset", to_address=user["email"], user_id=user["id"])


async def invite_customer(external_id: str) -> dict:
    """Mail a billing-synced customer a link to set their password; the queued mail."""
    from billdesk.mail.outgoing import get_mail, queue_mail

    user = (
        await User.select(User.id, User.email, User.active)
        .where((User.external_id == external_id) & (User.role == User.Role.customer.value))
        .first()
    )
    if user is None:
        raise NotFound(tr("There is no customer with this external id."))
    if not user["active"]:
        raise ValidationFailed.field("external_id", tr("This customer is deactivated."))
    async with write_transaction():
        mail_id = await queue_mail(kind="invite", to_address=user["email"], user_id=user["id"])
    assert mail_id is not None
    return {"user_id": user["id"], "email": user["email"], "mail": await get_mail(mail_id)}


# ------------------------------------------------------------------ links


async def issue_token(*, user_id: int, purpose: str) -> tuple[str, str]:
    """A new link secret for the user (shown once, in the mail) and how long it works."""
    lifetime, label = LIFETIMES[purpose]
    token = secrets.token_urlsafe(32)
    now = clock.now()
    await PasswordToken.insert(
        PasswordToken(
            user=user_id,
            purpose=purpose,
            token_hash=_digest(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token, label


def _usable(token: str):
    return (
        (PasswordToken.token_hash == _digest(token))
        & PasswordToken.used_at.is_null()
        & (PasswordToken.expires_at > clock.now())
    )


async def link_for(token: str) -> dict:
    """The link's purpose and account (`purpose`, `email`), or LinkNotValid."""
    if not token or len(token) > 100:
        raise LinkNotValid(NOT_VALID)
    row = (
        await PasswordToken.select(
            PasswordToken.purpose,
            PasswordToken.user.email.as_alias("email"),
            PasswordToken.user.active.as_alias("active"),
        )
        .where(_usable(token))
        .first()
    )
    if row is None or not row["active"]:
        raise LinkNotValid(NOT_VALID)
    return row


async def set_password_with_link(token: str, *, password: str, repeat: str | None) -> CurrentUser:
    """Use a link once: the new password is set, every session ends, other links are void."""
    await link_for(token)
    check_new_password(password, repeat)
    password_hash = await hashed(password)
    async with write_transaction():
        used = (
            await PasswordToken.update({PasswordToken.used_at: clock.now()})
            .where(_usable(token))
            .returning(PasswordToken.user)
        )
        if not used:
            raise LinkNotValid(NOT_VALID)
        user_id = used[0]["user"]
        user = await User.select().where((User.id == user_id) & (User.active == True)).first()  # noqa: E712
        if user is None:
            raise LinkNotValid(NOT_VALID)
        await User.update({User.password_hash: password_hash}).where(User.id == user_id)
        await PasswordToken.update({PasswordToken.used_at: clock.now()}).where(
            (PasswordToken.user == user_id) & PasswordToken.used_at.is_null()
        )
        # As when an admin sets a password: every session ends, every API token is revoked.
        await end_access(user_id)
        actor = audit.current_actor()
        await audit.record(
            "password.reset", target_type="user", target_id=user_id, target=user["email"],
            before={"password": "old"}, after={"password": "set with a mailed link"},
            actor=audit.Actor(user_id, user["email"], actor.ip, actor.user_agent),
        )
    return CurrentUser(id=user["id"], email=user["email"], name=user["name"], role=user["role"])


async def change_password(
    user: CurrentUser, *, current: str, password: str, repeat: str | None, keep_session: str
) -> None:
    """The account page's change: the current password first; other sessions end."""
    row = await User.select(User.password_hash).where(User.id == user.id).first()
    if row is None:
        raise NotFound(tr("There is no such user."))
    if row["password_hash"] and not await password_matches(row["password_hash"], current):
        raise ValidationFailed.field("current_password", tr("This is not your current password."))
    check_new_password(password, repeat)
    password_hash = await hashed(password)
    keep = hashlib.sha256(keep_session.encode()).hexdigest()
    async with write_transaction():
        await User.update({User.password_hash: password_hash}).where(User.id == user.id)
        await Session.delete().where((Session.user == user.id) & (Session.token_hash != keep))
        await PasswordToken.update({PasswordToken.used_at: clock.now()}).where(
            (PasswordToken.user == user.id) & PasswordToken.used_at.is_null()
        )
        await audit.record(
            "password.changed", target_type="user", target_id=user.id, target=user.email,
            before={"password": "old"}, after={"password": "changed by its owner"},
        )
