"""Helpers for the tests of two-factor sign-in, sessions and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp

from billdesk import clock, two_factor
from billdesk.tables import AuditEntry
from tests.factories import MadeUser, as_current, csrf_token, login

STEP = timedelta(seconds=30)


def code_now(secret: str) -> str:
    """The code an authenticator app shows now, by billdesk's clock."""
    return pyotp.TOTP(secret).at(clock.now())


async def enable_two_factor(user: MadeUser) -> tuple[str, list[str]]:
    """Turn the user's second factor on as the account page does; the secret and the codes.

    The clock moves one step on, so the code used to confirm is not the next one asked."""
    enrolment = await two_factor.start_enrolment(as_current(user))
    codes = await two_factor.confirm_enrolment(as_current(user), code_now(enrolment["secret"]))
    clock.advance(STEP)
    return enrolment["secret"], codes


async def send_code(client, code: str, path: str = "/login/code"):
    page = await client.get(path)
    return await client.post(path, data={"code": code, "_csrf_token": csrf_token(page.text)})


async def sign_in_with_code(client, user: MadeUser, secret: str):
    await login(client, user.email)
    return await send_code(client, code_now(secret))


async def entries(action: str) -> list[dict[str, Any]]:
    return await AuditEntry.select().where(AuditEntry.action == action).output(load_json=True)
