"""Quick-reply templates: global (kept by admins), per department, and personal.

A staff member uses the global ones, those of their departments and their own;
they may change their own and those of their departments, admins may change all.
Placeholders `{customer_name}`, `{ticket_id}`, `{department}` and `{agent_name}`
are filled in when a template is put into a reply.
"""

from __future__ import annotations

from typing import Any

from billdesk.auth import CurrentUser
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.queues import member_department_ids
from billdesk.tables import Department, ReplyTemplate

Scope = ReplyTemplate.Scope
SCOPES = tuple(scope.value for scope in Scope)
TITLE_MAX = 120
BODY_MAX = 10_000
PLACEHOLDERS = ("customer_name", "ticket_id", "department", "agent_name")

COLUMNS = (
    ReplyTemplate.id, ReplyTemplate.title, ReplyTemplate.body, ReplyTemplate.scope,
    ReplyTemplate.department.id, ReplyTemplate.department.name, ReplyTemplate.owner.id,
)


def fill_placeholders(body: str, values: dict[str, Any]) -> str:
    """The body with the known placeholders replaced; any other braces are left as typed.

    `{ticket_id}` is written "#1042", so a template typing "#{ticket_id}" gets one "#".
    """
    if str(values.get("ticket_id", "")).startswith("#"):
        body = body.replace("#{ticket_id}", "{ticket_id}")
    for name in PLACEHOLDERS:
        body = body.replace("{" + name + "}", str(values.get(name, "")))
    return body


async def usable_templates(
    user: CurrentUser, *, department_id: int | None = None
) -> list[dict[str, Any]]:
    """The templates the user may use, in one query; with a department, only those fitting it."""
    departments = await member_department_ids(user)
    condition = (ReplyTemplate.scope == Scope.global_.value) | (
        (ReplyTemplate.scope == Scope.personal.value) & (ReplyTemplate.owner == user.id)
    )
    if department_id is not None:
        condition = condition | (
            (ReplyTemplate.scope == Scope.department.value)
            & (ReplyTemplate.department == department_id)
        )
    elif departments is None:
        condition = condition | (ReplyTemplate.scope == Scope.department.value)
    elif departments:
        condition = condition | (
            (ReplyTemplate.scope == Scope.department.value)
            & ReplyTemplate.department.is_in(departments)
        )
    return await ReplyTemplate.select(*COLUMNS).where(condition).order_by(ReplyTemplate.title)


async def _may_edit(user: CurrentUser, row: dict[str, Any]) -> bool:
    if user.is_admin:
        return True
    if row["scope"] == Scope.personal.value:
        return row["owner"] == user.id
    if row["scope"] == Scope.department.value:
        departments = await member_department_ids(user) or []
        return row["department"] in departments
    return False


async def _check(
    user: CurrentUser, *, title: str, body: str, scope: str, department_id: int | None
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    title = " ".join(title.split())
    if not title:
        errors["title"] = tr("Give the template a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = tr("Keep the title under %(num)s characters.", num=TITLE_MAX)
    if not body.strip():
        errors["body"] = tr("The template's text cannot be empty.")
    elif len(body) > BODY_MAX:
        errors["body"] = tr("Keep the text under %(num)s characters.", num=BODY_MAX)
    if scope not in SCOPES:
        errors["scope"] = tr("The scope must be global, department or personal.")
    elif scope == Scope.global_.value and not user.is_admin:
        errors["scope"] = tr("Only an administrator can make a global template.")
    elif scope == Scope.department.value:
        departments = await member_department_ids(user)
        if department_id is None:
            errors["department_id"] = tr("Choose the template's department.")
        elif not await Department.exists().where(Department.id == department_id) or (
            departments is not None and department_id not in departments
        ):
            errors["department_id"] = tr("Choose one of your departments.")
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors=errors)
    return {
        "title": title,
        "body": body,
        "scope": scope,
        "department": department_id if scope == Scope.department.value else None,
    }


async def create_template(
    *, user: CurrentUser, title: str, body: str, scope: str = "personal",
    department_id: int | None = None,
) -> int:
    """A new template; an empty title or body is refused, and only admins make global ones."""
    values = await _check(user, title=title, body=body, scope=scope, department_id=department_id)
    rows = await ReplyTemplate.insert(
        ReplyTemplate(
            title=values["title"], body=values["body"], scope=values["scope"],
            department=values["department"],
            owner=user.id if values["scope"] == Scope.personal.value else None,
        )
    ).returning(ReplyTemplate.id)
    return rows[0]["id"]


async def get_template(user: CurrentUser, template_id: int) -> dict[str, Any]:
    """A template the user may change, else NotFound."""
    row = await ReplyTemplate.select().where(ReplyTemplate.id == template_id).first()
    if row is None or not await _may_edit(user, row):
        raise NotFound(tr("There is no such template."))
    return row


async def update_template(
    *, user: CurrentUser, template_id: int, changes: dict[str, Any]
) -> None:
    """Change a template's title, body, scope or department, with the checks of creation."""
    row = await get_template(user, template_id)
    values = await _check(
        user,
        title=changes.get("title", row["title"]),
        body=changes.get("body", row["body"]),
        scope=changes.get("scope", row["scope"]),
        department_id=changes.get("department_id", row["department"]),
    )
    owner = row["owner"]
    if values["scope"] == Scope.personal.value and owner is None:
        owner = user.id
    elif values["scope"] != Scope.personal.value:
        owner = None
    await ReplyTemplate.update(
        {
            ReplyTemplate.title: values["title"],
            ReplyTemplate.body: values["body"],
            ReplyTemplate.scope: values["scope"],
            ReplyTemplate.department: values["department"],
            ReplyTemplate.owner: owner,
        }
    ).where(ReplyTemplate.id == template_id)


async def delete_template(*, user: CurrentUser, template_id: int) -> None:
    await get_template(user, template_id)
    await ReplyTemplate.delete().where(ReplyTemplate.id == template_id)
