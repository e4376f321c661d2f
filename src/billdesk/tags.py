"""Tags: labels with a colour that admins keep and staff put on tickets.

A tag's name is unique whatever its case, 1-40 characters; its colour is one of the
`PALETTE`'s `#rrggbb` values, nothing else, so a page shows it through a class of
the style sheet and never writes a colour of its own into the page. Staff tag the
tickets they may work (one ticket, or many at once); every change leaves a line in
the ticket's history. Customers never see tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from billdesk import audit, queue_changes
from billdesk.auth import CurrentUser
from billdesk.db import write_transaction
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Tag, TicketEvent, TicketTag

PALETTE: dict[str, str] = {
    "#4b5563": tr("Grey"),
    "#b91c1c": tr("Red"),
    "#c2410c": tr("Orange"),
    "#b45309": tr("Amber"),
    "#15803d": tr("Green"),
    "#0f766e": tr("Teal"),
    "#1d4ed8": tr("Blue"),
    "#4338ca": tr("Indigo"),
    "#7e22ce": tr("Purple"),
    "#be185d": tr("Pink"),
}
"""The colours a tag may have (white text reads on each); the style sheet has a class
`tag--<hex without #>` for every one."""
DEFAULT_COLOUR = "#4b5563"
MAX_NAME = 40
MAX_TAGS = 500
"""Tags in all: the lists that offer every tag stay short."""
MAX_PER_TICKET = 20
COLUMNS = (Tag.id, Tag.name, Tag.colour)


def tag_out(row: dict[str, Any]) -> dict[str, Any]:
    """A tag as the API and the pages show it."""
    return {"id": row["id"], "name": row["name"], "colour": row["colour"]}


def colour_class(colour: str) -> str:
    """The style sheet's class for a palette colour (a checked value: hex digits only)."""
    return "tag--" + (colour[1:] if colour in PALETTE else DEFAULT_COLOUR[1:])


def _clean_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ValidationFailed.field("name", tr("Give the tag a name."))
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed.field("name", tr("Give the tag a name."))
    if len(cleaned) > MAX_NAME:
        raise ValidationFailed.field(
            "name", tr("A tag's name has at most %(max)s characters.", max=MAX_NAME)
        )
    if any(not character.isprintable() for character in cleaned):
        raise ValidationFailed.field("name", tr("A tag's name holds printable characters only."))
    return cleaned


def _clean_colour(colour: Any) -> str:
    value = colour.strip().lower() if isinstance(colour, str) else ""
    if value not in PALETTE:
        raise ValidationFailed.field(
            "colour",
            tr("The colour must be one of: %(colours)s.", colours=", ".join(PALETTE)),
        )
    return value


async def _refuse_taken(name: str, *, other_than: int | None = None) -> None:
    row = await Tag.select(Tag.id).where(Tag.name_key == name.lower()).first()
    if row is not None and row["id"] != other_than:
        raise ValidationFailed.field(
            "name", tr("There is already a tag named “%(name)s”.", name=name)
        )


_LIST_TAGS = Statement(f"SELECT id, name, colour FROM tags ORDER BY name_key LIMIT {MAX_TAGS}")  # noqa: S608


async def list_tags() -> list[dict[str, Any]]:
    """Every tag, by name (the desk's queue offers them on every page)."""
    return await _LIST_TAGS.rows()


async def get_tag(tag_id: int) -> dict[str, Any]:
    row = await Tag.select(*COLUMNS).where(Tag.id == tag_id).first()
    if row is None:
        raise NotFound(tr("There is no such tag."))
    return row


async def create_tag(*, name: Any, colour: Any = DEFAULT_COLOUR) -> dict[str, Any]:
    """Add a tag; its name must be new (whatever its case), its colour from the palette."""
    cleaned, value = _clean_name(name), _clean_colour(colour)
    async with write_transaction():
        await _refuse_taken(cleaned)
        if await Tag.count() >= MAX_TAGS:
            raise ValidationFailed.field(
                "name", tr("There are %(max)s tags already; delete one first.", max=MAX_TAGS)
            )
        made = await Tag.insert(
            Tag(name=cleaned, name_key=cleaned.lower(), colour=value)
        ).returning(Tag.id)
        tag_id = made[0]["id"]
        await audit.record(
            "tag.created", target_type="tag", target_id=tag_id, target=cleaned,
            after={"name": cleaned, "colour": value},
        )
    return await get_tag(tag_id)


async def update_tag(tag_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Rename or recolour a tag; the tickets that carry it show the change at once."""
    wanted: dict[Any, Any] = {}
    if "name" in changes:
        name = _clean_name(changes["name"])
        wanted[Tag.name], wanted[Tag.name_key] = name, name.lower()
    if "colour" in changes:
        wanted[Tag.colour] = _clean_colour(changes["colour"])
    async with write_transaction():
        row = await get_tag(tag_id)
        if Tag.name in wanted:
            await _refuse_taken(wanted[Tag.name], other_than=tag_id)
        if wanted:
            await Tag.update(wanted).where(Tag.id == tag_id)
            after = await get_tag(tag_id)
            if after != row:
                await audit.record(
                    "tag.updated", target_type="tag", target_id=tag_id, target=after["name"],
                    before={"name": row["name"], "colour": row["colour"]},
                    after={"name": after["name"], "colour": after["colour"]},
                )
    return await get_tag(tag_id)


async def delete_tag(tag_id: int) -> None:
    """Delete a tag and take it off every ticket (their histories keep what happened)."""
    async with write_transaction():
        row = await get_tag(tag_id)
        await TicketTag.delete().where(TicketTag.tag == tag_id)
        await Tag.delete().where(Tag.id == tag_id)
        await audit.record(
            "tag.deleted", target_type="tag", target_id=tag_id, target=row["name"],
            before={"name": row["name"], "colour": row["colour"]},
        )


# ------------------------------------------------------------- tags on tickets


_TAGS_OF_SIZES = (1, 10, 25, 51, 101)
"""The lengths of `tags_of`'s IN list (a page's ids, the last one repeated up to the
next of these), so a few statements serve every page size."""


@lru_cache(maxsize=64)
def _tags_of(size: int) -> Statement:
    marks = ", ".join(f":ticket{number}" for number in range(size))
    # Only the parameters' marks are joined in.
    return Statement(
        "SELECT ticket_tags.ticket, tags.id, tags.name, tags.colour FROM ticket_tags "  # noqa: S608
        f"LEFT JOIN tags ON tags.id = ticket_tags.tag WHERE ticket_tags.ticket IN ({marks}) "
        "ORDER BY tags.name_key"
    )


async def tags_of(ticket_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The tags of each ticket, by name: one query for a whole page of tickets."""
    ids = list(dict.fromkeys(ticket_ids))
    found: dict[int, list[dict[str, Any]]] = {ticket_id: [] for ticket_id in ids}
    if not ids:
        return found
    size = next((size for size in _TAGS_OF_SIZES if size >= len(ids)), len(ids))
    padded = ids + ids[-1:] * (size - len(ids))
    rows = await _tags_of(size).rows(
        **{f"ticket{number}": ticket_id for number, ticket_id in enumerate(padded)}
    )
    for row in rows:
        found[row["ticket"]].append({"id": row["id"], "name": row["name"], "colour": row["colour"]})
    return found


async def attach_tags(rows: list[dict[str, Any]]) -> None:
    """Give each ticket row its `tags` (one query for all of them)."""
    by_ticket = await tags_of(row["id"] for row in rows)
    for row in rows:
        row["tags"] = by_ticket.get(row["id"], [])


async def _tags_by_id(field: str, tag_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The named tags, or a validation error naming `field` that lists the unknown ones."""
    ids = list(dict.fromkeys(tag_ids))
    rows = await Tag.select(*COLUMNS).where(Tag.id.is_in(ids)) if ids else []
    by_id = {row["id"]: row for row in rows}
    missing = [str(tag_id) for tag_id in ids if tag_id not in by_id]
    if missing:
        raise ValidationFailed.field(
            field, tr("There is no tag with the id %(ids)s.", ids=", ".join(missing))
        )
    return by_id


async def _write_changes(
    actor: CurrentUser, added: list[tuple[int, dict[str, Any]]],
    removed: list[tuple[int, dict[str, Any]]],
) -> None:
    """Put on and take off (ticket, tag) pairs, with a line of history for each, in bulk."""
    if added:
        await TicketTag.insert(
            *[TicketTag(ticket=ticket_id, tag=tag["id"]) for ticket_id, tag in added]
        ).on_conflict(action="DO NOTHING")
    # One delete per tag (bulk: one tag) or per ticket (one ticket's tags), whichever is fewer.
    by_tag: dict[int, list[int]] = {}
    by_ticket: dict[int, list[int]] = {}
    for ticket_id, tag in removed:
        by_tag.setdefault(tag["id"], []).append(ticket_id)
        by_ticket.setdefault(ticket_id, []).append(tag["id"])
    if len(by_tag) <= len(by_ticket):
        for tag_id, ticket_ids in by_tag.items():
            await TicketTag.delete().where(
                (TicketTag.tag == tag_id) & TicketTag.ticket.is_in(ticket_ids)
            )
    else:
        for ticket_id, tag_ids in by_ticket.items():
            await TicketTag.delete().where(
                (TicketTag.ticket == ticket_id) & TicketTag.tag.is_in(tag_ids)
            )
    events = [
        TicketEvent(
            ticket=ticket_id, actor=actor.id, kind=TicketEvent.Kind.tag_added,
            new_value=tag["name"],
        )
        for ticket_id, tag in added
    ] + [
        TicketEvent(
            ticket=ticket_id, actor=actor.id, kind=TicketEvent.Kind.tag_removed,
            old_value=tag["name"],
        )
        for ticket_id, tag in removed
    ]
    if events:
        await TicketEvent.insert(*events)
        # Queue rows show their tags: an open queue page fetches them again.
        await queue_changes.note_changed(sorted({ticket_id for ticket_id, _ in added + removed}))


async def set_ticket_tags(*, actor: CurrentUser, ticket_id: int, tag_ids: list[int]) -> None:
    """Make the ticket carry exactly these tags. Staff may tag any ticket they may work,
    solved ones too; a ticket in the trash answers NotFound."""
    from billdesk.queues import visible_ticket

    if len(set(tag_ids)) > MAX_PER_TICKET:
        raise ValidationFailed.field(
            "tag_ids", tr("A ticket has at most %(max)s tags.", max=MAX_PER_TICKET)
        )
    async with write_transaction():
        await visible_ticket(actor, ticket_id)
        wanted = await _tags_by_id("tag_ids", tag_ids)
        current = await tags_of([ticket_id])
        have = {tag["id"]: tag for tag in current[ticket_id]}
        await _write_changes(
            actor,
            added=[(ticket_id, tag) for tag_id, tag in wanted.items() if tag_id not in have],
            removed=[(ticket_id, tag) for tag_id, tag in have.items() if tag_id not in wanted],
        )


@dataclass
class BulkTagging:
    changed: list[int]
    already: list[int]
    """Tickets that had the tag already (adding), or did not have it (removing)."""
    full: list[int]
    """Tickets that carry MAX_PER_TICKET tags already (adding)."""


async def tag_tickets(
    *, actor: CurrentUser, ticket_ids: list[int], tag_id: int | None, add: bool
) -> BulkTagging:
    """Put a tag on (or take it off) tickets the caller has already checked, inside the
    caller's transaction; tickets that already have it (or lack it) are left alone."""
    if tag_id is None:
        raise ValidationFailed.field("tag_id", tr("Choose a tag."))
    tag = (await _tags_by_id("tag_id", [tag_id]))[tag_id]
    rows = await TicketTag.select(TicketTag.ticket).where(
        (TicketTag.tag == tag_id) & TicketTag.ticket.is_in(ticket_ids or [0])
    )
    tagged = {row["ticket"] for row in rows}
    to_change = [ticket_id for ticket_id in ticket_ids if (ticket_id in tagged) != add]
    full: list[int] = []
    if add:
        counts = await _tag_counts(to_change)
        full = [ticket_id for ticket_id in to_change if counts.get(ticket_id, 0) >= MAX_PER_TICKET]
        to_change = [ticket_id for ticket_id in to_change if ticket_id not in full]
    pairs = [(ticket_id, tag) for ticket_id in to_change]
    await _write_changes(actor, added=pairs if add else [], removed=[] if add else pairs)
    return BulkTagging(
        changed=to_change,
        already=[ticket_id for ticket_id in ticket_ids if (ticket_id in tagged) == add],
        full=full,
    )


async def _tag_counts(ticket_ids: list[int]) -> dict[int, int]:
    if not ticket_ids:
        return {}
    rows = await TicketTag.select(TicketTag.ticket).where(TicketTag.ticket.is_in(ticket_ids))
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["ticket"]] = counts.get(row["ticket"], 0) + 1
    return counts


async def check_filter(tag_id: int | None) -> None:
    """A queue or report filter's tag must exist; a validation error naming `tag` else."""
    if tag_id is not None and not await Tag.exists().where(Tag.id == tag_id):
        raise ValidationFailed.field("tag", tr("There is no such tag."))


# ------------------------------------------------------------------ reports


async def report_by_tag(
    *, start: Any, end: Any, departments: list[int] | None, agent: int | None
) -> list[dict[str, Any]]:
    """Tickets opened (reached support) and solved in [start, end), per tag, in the
    report's departments (None: all) and for its agent: two grouped queries over the
    window's indexed time columns; tags with neither are left out."""
    from piccolo.query.functions.aggregate import Count

    counts: dict[int, dict[str, int]] = {}
    for figure, column in (
        ("opened", TicketTag.ticket.clock_started_at),
        ("solved", TicketTag.ticket.solved_at),
    ):
        condition = (column >= start) & (column < end) & TicketTag.ticket.removed_at.is_null()
        if departments is not None:
            condition = condition & TicketTag.ticket.department.is_in(departments or [0])
        if agent is not None:
            condition = condition & (TicketTag.ticket.assignee == agent)
        rows = await (
            TicketTag.select(TicketTag.tag, Count(TicketTag.id, alias="n"))
            .where(condition)
            .group_by(TicketTag.tag)
        )
        for row in rows:
            counts.setdefault(row["tag"], {"opened": 0, "solved": 0})[figure] = row["n"]
    if not counts:
        return []
    names = await Tag.select(*COLUMNS).where(Tag.id.is_in(list(counts))).order_by(Tag.name_key)
    return [{"tag": tag_out(tag), **counts[tag["id"]]} for tag in names]
