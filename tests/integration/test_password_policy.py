"""The password rules hold wherever a password is set: the command line, the admin pages, the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from billdesk.tables import User
from tests.factories import csrf_token, login, make_token, make_user

BILLDESK = str(Path(sys.executable).with_name("billdesk"))


def _refused_field(answer) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [error["field"] for error in answer.json()["errors"]]


async def test_every_place_that_sets_a_password_refuses_a_weak_one(client, app_client_factory):
    admin, staff = await make_user(role="admin"), await make_user(role="staff")
    headers = {"Authorization": f"Bearer {await make_token(admin)}"}
    users_before = await User.count()

    made = await asyncio.to_thread(
        subprocess.run,
        [BILLDESK, "user", "create", "ops@example.test", "--name", "Ops", "--role", "staff",
         "--password", "password1"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )
    assert made.returncode == 1 and "most common" in made.stderr

    created = await client.post("/api/v1/admin/users", headers=headers, json={
        "email": "new@example.test", "name": "New", "role": "staff", "password": "iloveyou",
    })
    assert _refused_field(created) == ["password"]
    changed = await client.patch(
        f"/api/v1/admin/users/{staff.id}", headers=headers, json={"password": " " * 10}
    )
    assert _refused_field(changed) == ["password"]
    too_long = await client.patch(
        f"/api/v1/admin/users/{staff.id}", headers=headers, json={"password": "long " * 60}
    )
    assert _refused_field(too_long) == ["password"]

    async with app_client_factory() as browser:
        await login(browser, admin.email)
        page = await browser.get("/admin/users")
        answer = await browser.post("/admin/users", data={
            "email": "page@example.test", "name": "Page", "role": "staff",
            "password": "12345678", "_csrf_token": csrf_token(page.text),
        })
        assert answer.status_code == 422
        assert "most common" in answer.text
        assert 'value="page@example.test"' in answer.text  # the form keeps what was typed

    assert await User.count() == users_before
    assert (await login(client, staff.email)).status_code in (302, 303)  # unchanged password
