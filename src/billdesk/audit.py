"""The audit log: who did what, when, from where, and what changed (before → after).

Each write path that matters for trust (sign-ins, second factors, API tokens,
roles and passwords, departments with their prices and quotas, settings,
refunds, the trash, reconcile) calls `record()` inside its own transaction, so
an entry exists exactly when the change does. Who is acting and from where is
set once per request by the web layer (`acting()`), by the command line for its
commands, and is nobody (billdesk itself) in jobs.

Entries are only ever inserted: no function here or anywhere in billdesk
changes or deletes one. Money entries (`money=True`) are what finance may read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from piccolo.query import Select

from billdesk import clock
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.tables import AuditEntry, User

# action -> how the log shows it. Money actions are the ones finance sees.
ACTIONS: dict[str, str] = {
    "login.succeeded": tr("Signed in"),
    "login.failed": tr("Sign-in refused"),
    "logout": tr("Signed out"),
    "session.revoked": tr("Session ended"),
    "sessions.revoked_others": tr("Signed out everywhere else"),
    "two_factor.enabled": tr("Second factor turned on"),
    "two_factor.disabled": tr("Second factor turned off"),
    "two_factor.reset": tr("Second factor reset by an admin"),
    "two_factor.recovery_codes": tr("New recovery codes"),
    "token.created": tr("API token created"),
    "token.revoked": tr("API token revoked"),
    "user.created": tr("User created"),
    "user.updated": tr("User changed"),
    "password.changed": tr("Password changed"),
    "password.reset": tr("Password set with a mailed link"),
    "department.created": tr("Department created"),
    "department.updated": tr("Department changed"),
    "department.member_added": tr("Member added"),
    "department.member_removed": tr("Member removed"),
    "setting.changed": tr("Setting changed"),
    "refund.created": tr("Refund"),
    "charge.reconciled": tr("Payment reconciled"),
    "refund.reconciled": tr("Refund reconciled"),
    "ticket.trashed": tr("Ticket moved to the trash"),
    "ticket.restored": tr("Ticket restored"),
    "tag.created": tr("Tag created"),
    "tag.updated": tr("Tag changed"),
    "tag.deleted": tr("Tag deleted"),
}
MONEY_ACTIONS = frozenset({"refund.created", "charge.reconciled", "refund.reconciled"})


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; `user_id` None is billdesk itself (a job, a webhook)."""

    user_id: int | None = None
    email: str = ""
    ip: str = ""
    user_agent: str = ""


SYSTEM = Actor()
_actor: ContextVar[Actor] = ContextVar("billdesk_audit_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _actor.get()


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Everything recorded inside the block is recorded as done by `actor`."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def _clean(text: str, length: int) -> str:
    return text.replace("\x00", "")[:length]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Only the fields that differ, as (before, after)."""
    changed = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}


async def record(
    action: str,
    *,
    target_type: str = "",
    target_id: int | None = None,
    target: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    money: bool | None = None,
    actor: Actor | None = None,
) -> None:
    """Write one entry; call it inside the transaction of the change it records."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    who = actor or current_actor()
    await AuditEntry.insert(
        AuditEntry(
            created_at=clock.now(),
            action=action,
            money=action in MONEY_ACTIONS if money is None else money,
            actor_id=who.user_id,
            actor_email=_clean(who.email, 254),
            ip=_clean(who.ip, 64),
            user_agent=_clean(who.user_agent, 300),
            target_type=target_type,
            target_id=target_id,
            target=_clean(target, 300),
            before=_jsonable(before or {}),
            after=_jsonable(after or {}),
        )
    )


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class AuditFilters:
    person: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    money_only: bool = False


def parse_filters(
    *,
    person: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    money_only: bool,
) -> AuditFilters:
    """The search as typed, checked; a bad value is a ValidationFailed naming its field."""
    person = (person or "").strip()
    if len(person) > 254:
        raise ValidationFailed.field("person", tr("Enter an email address or a user id."))
    action = (action or "").strip()
    families = {name.split(".")[0] for name in ACTIONS}
    if action and action not in ACTIONS and action not in families:
        raise ValidationFailed.field(
            "action", tr("The action must be one of the log's actions, e.g. login.failed or login.")
        )
    dates: dict[str, date | None] = {}
    for field_name, raw in (("from", since), ("to", until)):
        raw = (raw or "").strip()
        try:
            dates[field_name] = date.fromisoformat(raw[:10]) if raw else None
        except ValueError:
            raise ValidationFailed.field(
                field_name, tr("%(field)s must be a date like 2026-11-27.", field=field_name)
            ) from None
    return AuditFilters(
        person=person,
        action=action,
        since=dates["from"],
        until=dates["to"],
        money_only=money_only,
    )


async def entries_query(filters: AuditFilters) -> Select:
    """The entries matching the filters (newest first is the caller's keyset order)."""
    query = AuditEntry.select().output(load_json=True)
    if filters.money_only:
        query = query.where(AuditEntry.money == True)  # noqa: E712
    if filters.action:
        if filters.action in ACTIONS:
            query = query.where(AuditEntry.action == filters.action)
        else:
            query = query.where(AuditEntry.action.like(f"{filters.action}.%"))
    if filters.person:
        query = query.where(await _person_where(filters.person))
    if filters.since is not None:
        start = datetime.combine(filters.since, time.min, tzinfo=UTC)
        query = query.where(AuditEntry.created_at >= start)
    if filters.until is not None:
        end = datetime.combine(filters.until, time.min, tzinfo=UTC) + timedelta(days=1)
        query = query.where(AuditEntry.created_at < end)
    return query


async def _person_where(person: str) -> Any:
    """A person by id or email: what they did, and what was done to their account."""
    user_id: int | None = None
    email = person.lower()
    if person.isdigit() and len(person) < 10:
        user_id = int(person)
    else:
        row = await User.select(User.id).where(User.email == email).first()
        user_id = row["id"] if row else None
    where: Any = AuditEntry.actor_email == email
    if user_id is not None:
        where = (
            where
            | (AuditEntry.actor_id == user_id)
            | ((AuditEntry.target_type == "user") & (AuditEntry.target_id == user_id))
        )
    return where


def entry_out(row: dict[str, Any]) -> dict[str, Any]:
    """An entry as the API and the page show it."""
    return {
        "id": row["id"],
        "at": row["created_at"],
        "action": row["action"],
        "label": ACTIONS.get(row["action"], row["action"]),
        "money": row["money"],
        "actor": (
            {"id": row["actor_id"], "email": row["actor_email"]}
            if row["actor_id"] is not None or row["actor_email"]
            else None
        ),
        "ip": row["ip"],
        "user_agent": row["user_agent"],
        "target": {"type": row["target_type"], "id": row["target_id"], "name": row["target"]},
        "before": row["before"] or {},
        "after": row["after"] or {},
    }
