"""Creating and changing users: the one write path for the CLI, the demo and the admin."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from billdesk import audit, clock
from billdesk.auth import MAX_PASSWORD, Role, hashed, normalize_email
from billdesk.db import write_transaction
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import ApiToken, Session, User

COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def check_email(email: str) -> str:
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        raise ValidationFailed.field("email", tr("Enter an email address like name@example.com."))
    return email


def check_role(role: str) -> str:
    if role not in Role.ALL:
        raise ValidationFailed.field("role", tr("The role must be one of: %(choices)s.", choices=", ".join(Role.ALL)))
    return role


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The passwords refused as too common (common_passwords.txt, shipped with billdesk)."""
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _is_common(password: str) -> bool:
    lowered = password.strip().lower()
    # "password123", "sunshine2024!": a common word with digits or signs stuck on.
    stem = lowered.rstrip("0123456789!@#$%^&*()-_=+.?~ ")
    return (
        lowered in common_passwords()
        or (len(stem) >= 4 and stem in common_passwords())
        or len(set(lowered)) == 1
    )


def check_password(password: str) -> str:
    """A password that may be set: 8 to 256 characters, not only blanks, not a common one."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed.field(
            "password", tr("The password must have at least %(num)s characters.", num=MIN_PASSWORD)
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed.field(
            "password", tr("The password must have at most %(num)s characters.", num=MAX_PASSWORD)
        )
    if not password.strip():
        raise ValidationFailed.field("password", tr("The password cannot be only blanks."))
    if _is_common(password):
        raise ValidationFailed.field(
            "password",
            tr(
                "This password is among the most common ones and easy to guess: choose another, "
                "for example a few unrelated words."
            ),
        )
    return password


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationFailed.field("name", tr("Enter a name of 1 to 200 characters."))
    return name


async def create_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    active: bool = True,
    external_id: str | None = None,
) -> int:
    """A new user; refuses a taken email, an unknown role and a short password."""
    email = check_email(email)
    errors: dict[str, str] = {}
    for check, value in ((check_name, name), (check_role, role)):
        try:
            check(value)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if password is not None:
        try:
            check_password(password)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if await User.exists().where(User.email == email):
        errors["email"] = tr("A user with this email exists already.")
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors=errors)
    password_hash = await hashed(password) if password else ""
    async with write_transaction():
        rows = await User.insert(
            User(
                email=email,
                name=check_name(name),
                role=role,
                password_hash=password_hash,
                active=active,
                external_id=external_id,
            )
        ).returning(User.id)
        await audit.record(
            "user.created", target_type="user", target_id=rows[0]["id"], target=email,
            after={"email": email, "name": check_name(name), "role": role, "active": active,
                   "password": "set" if password else "none"},
        )
    return rows[0]["id"]


async def end_access(user_id: int) -> None:
    """End every session of the user and revoke every API token: they must log in again."""
    await Session.delete().where(Session.user == user_id)
    await ApiToken.update({ApiToken.revoked_at: clock.now()}).where(
        (ApiToken.user == user_id) & ApiToken.revoked_at.is_null()
    )


async def deactivate_user(user_id: int) -> None:
    """Deactivate a user: their sessions end and their tokens stop working at once."""
    async with write_transaction():
        row = await User.select(User.email, User.active).where(User.id == user_id).first()
        await User.update({User.active: False}).where(User.id == user_id)
        await end_access(user_id)
        if row is not None and row["active"]:
            await audit.record(
                "user.updated", target_type="user", target_id=user_id, target=row["email"],
                before={"active": True}, after={"active": False},
            )


async def update_user(user_id: int, changes: dict, *, actor_id: int | None = None) -> None:
    """Change a user's email, name, role, password or active flag, with the checks of creation.

    A new password or `active: false` ends the user's sessions and revokes their
    API tokens in the same transaction. An admin (`actor_id`) cannot deactivate
    themselves or take away their own admin role.
    """
    current = await User.select(
        User.id, User.email, User.name, User.role, User.active
    ).where(User.id == user_id).first()
    if current is None:
        raise NotFound(tr("There is no such user."))
    values: dict = {}
    errors: dict[str, str] = {}
    checks = (("email", check_email), ("name", check_name), ("role", check_role))
    for field, check in checks:
        if field in changes:
            try:
                values[field] = check(changes[field])
            except ValidationFailed as exc:
                errors.update(exc.errors)
    if changes.get("password") is not None:
        try:
            values["password_hash"] = await hashed(check_password(changes["password"]))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if "email" in values and await User.exists().where(
        (User.email == values["email"]) & (User.id != user_id)
    ):
        errors["email"] = tr("A user with this email exists already.")
    if "active" in changes and not isinstance(changes["active"], bool):
        errors["active"] = tr("active must be true or false.")
    if actor_id == user_id:
        if changes.get("active") is False:
            errors["active"] = tr("You cannot deactivate yourself.")
        if values.get("role", Role.ADMIN) != Role.ADMIN:
            errors["role"] = tr("You cannot take away your own admin role.")
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors=errors)
    if changes.get("active") is not None:
        values["active"] = changes["active"]
    async with write_transaction():
        if values:
            await User.update(
                {getattr(User, key): value for key, value in values.items()}
            ).where(User.id == user_id)
        if "email" in values or "name" in values:
            from billdesk import search

            await search.reindex_customer(user_id)
        if "password_hash" in values or values.get("active") is False:
            await end_access(user_id)
        shown = {key: value for key, value in values.items() if key != "password_hash"}
        before, after = audit.changes(current, shown)
        if "password_hash" in values:
            before["password"], after["password"] = "old", "set by an admin"
        if after:
            await audit.record(
                "user.updated", target_type="user", target_id=user_id, target=current["email"],
                before=before, after=after,
            )


async def set_language(*, user_id: int, language: str) -> str:
    """Choose the language a person reads billdesk in ("" follows their browser)."""
    from billdesk.i18n import LANGUAGES, tr

    chosen = language.strip().lower()
    if chosen and chosen not in LANGUAGES:
        raise ValidationFailed.field("language", tr("Choose one of the languages offered."))
    await User.update({User.language: chosen}).where(User.id == user_id)
    return chosen


async def language_of(user_id: int) -> str:
    """The language to write to this person in when they are not asking (notifications,
    mails, bot messages): their choice, else English."""
    row = await User.select(User.language).where(User.id == user_id).first()
    return written_language(row["language"] if row else None)


def written_language(chosen: str | None) -> str:
    """`language_of` for a person whose `users.language` the caller read already."""
    from billdesk.i18n import DEFAULT_LANGUAGE, supported

    return supported(chosen) or DEFAULT_LANGUAGE


async def set_time_zone(*, user_id: int, time_zone: str) -> str:
    """Choose the time zone a person's pages show times in ("" follows their browser)."""
    from billdesk.formatting import valid_time_zone
    from billdesk.i18n import tr

    chosen = time_zone.strip()
    if chosen and valid_time_zone(chosen) is None:
        raise ValidationFailed.field("time_zone", tr("Choose a time zone from the list."))
    await User.update({User.time_zone: chosen}).where(User.id == user_id)
    return chosen
