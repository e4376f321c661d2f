"""Two-factor sign-in: a TOTP app (RFC 6238, `pyotp`) and ten single-use recovery codes.

Enrolment keeps a new secret on the user until a code from the app confirms it;
the QR code is drawn here (`segno`), so the secret never leaves billdesk. A code
is accepted in its 30-second step and one step either side (clock drift), and
only once: the step of the last accepted code is kept, and a conditional update
refuses that step and every earlier one, even from two processes at the same
moment. Recovery codes are stored as sha256 and spent with a conditional update.

An admin setting requires a second factor of staff, finance and admins: without
one they are sent to enrol at their next sign-in and reach nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import pyotp
import segno

from billdesk import audit, clock, login_throttle
from billdesk.auth import CurrentUser, Role
from billdesk.db import write_transaction
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.sessions import CODE, ENROL, SIGNED_IN
from billdesk.tables import RecoveryCode, Setting, User

ISSUER = "billdesk"
REQUIRED_SETTING = "two_factor_required"
REQUIRED_ROLES = (Role.STAFF, Role.FINANCE, Role.ADMIN)
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
WRONG_CODE = tr("This code is not right, or it was used already. Wait for the next one.")


# ------------------------------------------------------------------ the setting


async def is_required() -> bool:
    """Whether staff, finance and admins must have a second factor (admin setting)."""
    row = await Setting.select(Setting.value).where(Setting.key == REQUIRED_SETTING).first()
    return row is not None and row["value"] in (True, "true")


async def set_required(enabled: bool) -> None:
    """Require a second factor of staff, finance and admins (from their next sign-in), or not."""
    async with write_transaction():
        before = await is_required()
        if await Setting.exists().where(Setting.key == REQUIRED_SETTING):
            await Setting.update({Setting.value: enabled}).where(Setting.key == REQUIRED_SETTING)
        else:
            await Setting.insert(Setting(key=REQUIRED_SETTING, value=enabled))
        if before != enabled:
            await audit.record(
                "setting.changed",
                target_type="setting",
                target=REQUIRED_SETTING,
                before={REQUIRED_SETTING: before},
                after={REQUIRED_SETTING: enabled},
            )


def required_for(role: str, required: bool) -> bool:
    return required and role in REQUIRED_ROLES


async def stage_after_password(user: CurrentUser) -> str:
    """Where a right password leads: signed in, asked for a code, or sent to enrol."""
    row = await User.select(User.totp_enabled).where(User.id == user.id).first()
    if row is not None and row["totp_enabled"]:
        return CODE
    if required_for(user.role, await is_required()):
        return ENROL
    return SIGNED_IN


# ------------------------------------------------------------------ enrolment


async def status(user_id: int) -> dict[str, Any]:
    """`enabled` and `recovery_codes_left` for the account page."""
    row = await User.select(User.totp_enabled).where(User.id == user_id).first()
    left = await RecoveryCode.count().where(
        (RecoveryCode.user == user_id) & RecoveryCode.used_at.is_null()
    )
    return {"enabled": bool(row and row["totp_enabled"]), "recovery_codes_left": left}


def qr_data_uri(uri: str) -> str:
    """The otpauth URI as a QR code image (an SVG data URI, drawn locally)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


async def start_enrolment(user: CurrentUser) -> dict[str, str]:
    """The secret to put in an authenticator app (kept until confirmed), its URI and QR code.

    Reloading the page shows the same secret, so an app that scanned it still matches.
    """
    row = await User.select(User.totp_secret, User.totp_enabled).where(User.id == user.id).first()
    if row is None:
        raise NotFound(tr("There is no such user."))
    if row["totp_enabled"]:
        raise ValidationFailed.field("code", tr("Two-factor sign-in is on already."))
    secret = row["totp_secret"]
    if not secret:
        secret = pyotp.random_base32()
        await User.update({User.totp_secret: secret, User.totp_last_step: None}).where(
            User.id == user.id
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return {"secret": secret, "uri": uri, "qr": qr_data_uri(uri)}


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()[:64]


def _code_digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


async def _take_totp(user_id: int, secret: str, code: str) -> bool:
    """Accept a 6-digit code of this step or a neighbour, once (the step is kept)."""
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(clock.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            taken = (
                await User.update({User.totp_last_step: step})
                .where(
                    (User.id == user_id)
                    & (User.totp_last_step.is_null() | (User.totp_last_step < step))
                )
                .returning(User.id)
            )
            return bool(taken)
    return False


async def confirm_enrolment(user: CurrentUser, code: str) -> list[str]:
    """Turn the second factor on with a code from the app; the ten recovery codes (shown once)."""
    code = _normalise(code)
    if not code:
        raise ValidationFailed.field("code", tr("Enter the 6-digit code your app shows."))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with write_transaction():
        row = (
            await User.select(User.totp_secret, User.totp_enabled).where(User.id == user.id).first()
        )
        if row is None or row["totp_enabled"] or not row["totp_secret"]:
            raise ValidationFailed.field("code", tr("Reload the page to start setting up again."))
        if not await _take_totp(user.id, row["totp_secret"], code):
            raise ValidationFailed.field("code", WRONG_CODE)
        await User.update({User.totp_enabled: True}).where(User.id == user.id)
        await RecoveryCode.delete().where(RecoveryCode.user == user.id)
        await RecoveryCode.insert(
            *[RecoveryCode(user=user.id, code_hash=_code_digest(c)) for c in codes]
        )
        await audit.record(
            "two_factor.enabled",
            target_type="user",
            target_id=user.id,
            target=user.email,
            before={"two_factor": False},
            after={"two_factor": True},
        )
    return codes


# ------------------------------------------------------------------ codes


async def take_code(user_id: int, code: str) -> str | None:
    """Spend a code of the user's second factor: "app", "recovery code", or None if refused.

    Call it inside a transaction when the code should count only with what it unlocks.
    """
    code = _normalise(code)
    row = await User.select(User.totp_secret, User.totp_enabled).where(User.id == user_id).first()
    if not code or row is None or not row["totp_enabled"]:
        return None
    if code.isdigit():
        return "app" if await _take_totp(user_id, row["totp_secret"], code) else None
    spent = (
        await RecoveryCode.update({RecoveryCode.used_at: clock.now()})
        .where(
            (RecoveryCode.user == user_id)
            & (RecoveryCode.code_hash == _code_digest(code))
            & RecoveryCode.used_at.is_null()
        )
        .returning(RecoveryCode.id)
    )
    return "recovery code" if spent else None


async def check_sign_in_code(user: CurrentUser, code: str, *, ip: str) -> str:
    """The second step of a sign-in: the code, counted in the log-in throttle.

    Returns how it was given ("app" or "recovery code"); a wrong code is
    audited and refused (ValidationFailed naming `code`), too many are RateLimited.
    """
    attempt = await login_throttle.begin(email=user.email, ip=ip)
    how = await take_code(user.id, code)
    if how is None:
        async with write_transaction():
            await audit.record(
                "login.failed",
                target_type="user",
                target_id=user.id,
                target=user.email,
                after={"reason": "wrong second-factor code"},
                actor=audit.Actor(user.id, user.email, ip, audit.current_actor().user_agent),
            )
        raise ValidationFailed.field("code", WRONG_CODE)
    await login_throttle.succeeded(attempt)
    return how


async def _clear(user_id: int) -> None:
    await User.update(
        {User.totp_secret: None, User.totp_enabled: False, User.totp_last_step: None}
    ).where(User.id == user_id)
    await RecoveryCode.delete().where(RecoveryCode.user == user_id)


async def disable(user: CurrentUser, code: str) -> None:
    """Turn one's second factor off, proving it with a code (app or recovery)."""
    if required_for(user.role, await is_required()):
        raise ValidationFailed.field(
            "code",
            tr("Your role must use two-factor sign-in; an admin can reset it if you lost it."),
        )
    async with write_transaction():
        if await take_code(user.id, code) is None:
            raise ValidationFailed.field("code", WRONG_CODE)
        await _clear(user.id)
        await audit.record(
            "two_factor.disabled",
            target_type="user",
            target_id=user.id,
            target=user.email,
            before={"two_factor": True},
            after={"two_factor": False},
        )


async def reset(user_id: int) -> None:
    """An admin takes away a user's second factor (a lost phone); they may enrol again."""
    async with write_transaction():
        row = await User.select(User.email, User.totp_enabled).where(User.id == user_id).first()
        if row is None:
            raise NotFound(tr("There is no such user."))
        await _clear(user_id)
        await audit.record(
            "two_factor.reset",
            target_type="user",
            target_id=user_id,
            target=row["email"],
            before={"two_factor": row["totp_enabled"]},
            after={"two_factor": False},
        )
