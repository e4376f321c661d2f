"""The `billdesk` command, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from billdesk.tables import ApiToken, Department, DepartmentMember, Service, User
from tests.factories import make_user

BILLDESK = [sys.executable, "-m", "billdesk.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BILLDESK, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120
    )


async def _counts() -> dict[str, int]:
    return {
        "users": await User.count(),
        "departments": await Department.count(),
        "members": await DepartmentMember.count(),
        "services": await Service.count(),
    }


async def test_demo_loads_once_and_a_second_run_changes_nothing():
    first = run("demo")
    assert first.returncode == 0, first.stderr
    assert "admin@example.com" in first.stdout and "demo-password" in first.stdout
    loaded = await _counts()
    assert loaded == {"users": 7, "departments": 3, "members": 3, "services": 5}
    again = run("demo")
    assert again.returncode == 0
    assert await _counts() == loaded
    technical = await Department.select().where(Department.slug == "technical-support").first()
    billing = await Department.select().where(Department.slug == "billing").first()
    premium = await Department.select().where(Department.slug == "premium-administration").first()
    assert technical["free_tickets"] == 3 and technical["ticket_price"] > 0
    assert billing["free_tickets"] is None
    assert premium["free_tickets"] == 0 and premium["ticket_price"] > 0
    assert await Service.count().where(Service.status == "suspended") == 1
    # Staff and customers start on screens with work on them.
    from billdesk.tables import ReplyTemplate, Ticket

    statuses = {row["status"] for row in await Ticket.select(Ticket.status)}
    assert {"in_progress", "waiting_for_reply", "solved"} <= statuses
    assert await Ticket.count() == 3 and await ReplyTemplate.count() == 2


async def test_token_create_then_me_returns_the_user(client):
    user = await make_user(role="finance")
    created = run("token", "create", user.email, "--name", "exports")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["email"] == user.email

    token_id = (await ApiToken.select(ApiToken.id).first())["id"]
    revoked = run("token", "revoke", str(token_id))
    assert revoked.returncode == 0
    assert token not in revoked.stdout
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


async def test_user_create_and_its_bad_input():
    made = run(
        "user",
        "create",
        "ops@example.test",
        "--name",
        "Ops",
        "--role",
        "staff",
        "--password",
        "long enough password",
    )
    assert made.returncode == 0, made.stderr
    assert "long enough password" not in made.stdout
    row = await User.select().where(User.email == "ops@example.test").first()
    assert row["role"] == "staff" and row["password_hash"].startswith("$argon2")

    for args, reason in [
        (
            (
                "user",
                "create",
                "ops@example.test",
                "--name",
                "Ops",
                "--role",
                "staff",
                "--password",
                "long enough password",
            ),
            "exists already",
        ),
        (
            (
                "user",
                "create",
                "not-an-email",
                "--name",
                "X",
                "--role",
                "staff",
                "--password",
                "long enough password",
            ),
            "email address",
        ),
        (
            (
                "user",
                "create",
                "x@example.test",
                "--name",
                "X",
                "--role",
                "staff",
                "--password",
                "short",
            ),
            "at least 8",
        ),
        (("token", "create", "nobody@example.test"), "no user"),
        (("token", "revoke", "9999"), "no active token"),
    ]:
        failed = run(*args)
        assert failed.returncode != 0, args
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], failed.stderr


def test_unknown_role_is_refused_by_the_parser():
    failed = run(
        "user",
        "create",
        "x@example.test",
        "--name",
        "X",
        "--role",
        "root",
        "--password",
        "long enough password",
    )
    assert failed.returncode != 0
    assert "invalid choice" in failed.stderr
