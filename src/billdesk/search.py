"""Full-text search over tickets, the same on PostgreSQL and SQLite.

Each ticket has one row in `ticket_search` holding what can be found: the subject,
every public message, the names of their attachments, the customer's name and
e-mail, the service's name and external id (`public_text`), and the internal notes
with their attachments (`internal_text`). Every write path that changes any of it
calls `reindex_tickets` (or `reindex_customer`, `reindex_service`) inside its own
transaction, so the index is never behind what the ticket shows.

- PostgreSQL: a `document` tsvector (public text weighted A, internal B) with a GIN
  index; customers' queries ask for weight A only, so they never match a note.
- SQLite: an FTS5 table with the two texts as columns, kept in step with
  `ticket_search` by triggers; customers' queries are limited to `public_text`.

Text is split into words at anything that is not a letter or a digit, on both
engines, so `192.168.1.10`, `alice@example.com` and `srv-1042` are found as the
phrases of their parts. A query is words (all must match), "quoted phrases" and
prefixes (`serv*`); `#1042` or `1042` also names the ticket itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from piccolo.columns.combination import WhereRaw
from piccolo.querystring import QueryString

from billdesk.db import DB
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import Attachment, Message, Ticket, TicketSearch

MAX_QUERY = 200
MAX_TERMS = 12
SNIPPET_WORDS = 24

WORD = re.compile(r"[^\W_]+")
TOKEN = re.compile(r'"([^"]*)"(\*?)|(\S+)')
TICKET_NUMBER = re.compile(r"#?(\d{1,12})")


def is_postgres() -> bool:
    return DB.engine_type == "postgres"


def words(text: str) -> list[str]:
    """The words of a text as the index sees them: letters and digits, lower-case."""
    return [word.lower() for word in WORD.findall(text)]


# ---------------------------------------------------------------- the query


@dataclass(frozen=True)
class Term:
    """One thing that must match: a word, or a phrase of words; the last may be a prefix."""

    parts: tuple[str, ...]
    prefix: bool = False


@dataclass
class SearchQuery:
    text: str
    terms: list[Term] = field(default_factory=list)
    ticket_number: int | None = None

    def __bool__(self) -> bool:
        return bool(self.terms) or self.ticket_number is not None


def parse_query(text: str | None) -> SearchQuery:
    """What the person typed as terms; too long a query is a validation error naming `q`."""
    text = (text or "").strip()
    if len(text) > MAX_QUERY:
        raise ValidationFailed.field(
            "q", tr("Search for at most %(num)s characters.", num=MAX_QUERY)
        )
    query = SearchQuery(text=text)
    number = TICKET_NUMBER.fullmatch(text)
    if number:
        query.ticket_number = int(number.group(1))
    for match in TOKEN.finditer(text):
        phrase, phrase_star, bare = match.groups()
        if bare is not None:
            prefix = bare.endswith("*")
            parts = tuple(words(bare.rstrip("*")))
        else:
            prefix = bool(phrase_star)
            parts = tuple(words(phrase))
        if parts and len(query.terms) < MAX_TERMS:
            query.terms.append(Term(parts=parts, prefix=prefix))
    return query


def pg_tsquery(query: SearchQuery, *, public_only: bool) -> str:
    """The query for to_tsquery('simple', …); words are only letters and digits, so quoting is safe."""
    weight = "A" if public_only else ""
    phrases = []
    for term in query.terms:
        lexemes = []
        for index, part in enumerate(term.parts):
            star = "*" if term.prefix and index == len(term.parts) - 1 else ""
            mark = f":{star}{weight}" if star or weight else ""
            lexemes.append(f"'{part}'{mark}")
        phrases.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(phrases)


def fts5_match(query: SearchQuery, *, public_only: bool) -> str:
    """The FTS5 MATCH expression; words are only letters and digits, so quoting is safe."""
    phrases = [
        '"' + " ".join(term.parts) + '"' + (" *" if term.prefix else "") for term in query.terms
    ]
    expression = " AND ".join(phrases)
    return f"{{public_text}} : ({expression})" if public_only else expression


def matches(query: SearchQuery, *, public_only: bool) -> WhereRaw:
    """A condition on the ticket query: the ticket's text matches every term.

    On PostgreSQL it is written per ticket, so the planner may either collect the
    matches from the GIN index (few of them) or walk the queue's own order and test
    each ticket (many of them), whichever its statistics say is cheaper."""
    if is_postgres():
        return WhereRaw(
            'EXISTS (SELECT 1 FROM ticket_search WHERE ticket = "tickets"."id" '
            "AND document @@ to_tsquery('simple', {}))",
            pg_tsquery(query, public_only=public_only),
        )
    return WhereRaw(
        '"tickets"."id" IN (SELECT rowid FROM ticket_search_fts WHERE ticket_search_fts MATCH {})',
        fts5_match(query, public_only=public_only),
    )


def rank(query: SearchQuery, *, public_only: bool) -> QueryString:
    """How well the ticket matches, to sort by descending (best first)."""
    if is_postgres():
        return QueryString(
            "(SELECT ts_rank(document, to_tsquery('simple', {})) FROM ticket_search "
            'WHERE ticket = "tickets"."id")',
            pg_tsquery(query, public_only=public_only),
        )
    # bm25() is lower for better matches; public text weighs more than notes.
    return QueryString(
        "(SELECT -bm25(ticket_search_fts, 1.0, 0.5) FROM ticket_search_fts "
        'WHERE ticket_search_fts MATCH {} AND rowid = "tickets"."id")',
        fts5_match(query, public_only=public_only),
    )


# ---------------------------------------------------------------- snippets


def _highlight(text: str, query: SearchQuery) -> Markup | None:
    """A few words of `text` around its first match, the matching words in <mark>; None if none."""
    wanted = {part for term in query.terms for part in term.parts}
    prefixes = tuple(term.parts[-1] for term in query.terms if term.prefix)
    found = list(WORD.finditer(text))
    hits = {
        index
        for index, match in enumerate(found)
        if (word := match.group().lower()) in wanted or (prefixes and word.startswith(prefixes))
    }
    if not hits:
        return None
    first = max(min(hits) - SNIPPET_WORDS // 3, 0)
    last = min(first + SNIPPET_WORDS, len(found)) - 1
    pieces = ["…"] if first > 0 else []
    for index in range(first, last + 1):
        match = found[index]
        if index > first:
            # What stood between two words (spaces, dots, an @), whitespace collapsed.
            gap = text[found[index - 1].end() : match.start()]
            pieces.append(str(escape(" ".join(gap.split()) if gap.strip() else " ")))
            if gap.strip() and gap[0].isspace():
                pieces[-1] = " " + pieces[-1]
            if gap.strip() and gap[-1].isspace():
                pieces[-1] += " "
        word = str(escape(match.group()))
        pieces.append(f"<mark>{word}</mark>" if index in hits else word)
    if found[last].end() < len(text.rstrip()):
        pieces.append("…")
    return Markup("".join(pieces))  # noqa: S704  (every piece was escaped above)


@dataclass
class Snippet:
    html: Markup
    internal: bool


async def snippets(
    ticket_ids: Sequence[int], query: SearchQuery, *, public_only: bool
) -> dict[int, Snippet]:
    """The highlighted passage of each ticket that the query matched (one query for the page)."""
    if not ticket_ids or not query.terms:
        return {}
    columns = [TicketSearch.ticket, TicketSearch.public_text]
    if not public_only:
        columns.append(TicketSearch.internal_text)
    rows = await TicketSearch.select(*columns).where(TicketSearch.ticket.is_in(list(ticket_ids)))
    found: dict[int, Snippet] = {}
    for row in rows:
        html = _highlight(row["public_text"], query)
        if html is not None:
            found[row["ticket"]] = Snippet(html=html, internal=False)
        elif not public_only and (html := _highlight(row["internal_text"], query)) is not None:
            found[row["ticket"]] = Snippet(html=html, internal=True)
    return found


# ---------------------------------------------------------------- keeping it current


async def _documents(ticket_ids: list[int]) -> list[tuple[int, int, str, str]]:
    """(ticket, customer, public text, internal text) of each ticket, from four queries."""
    tickets = await Ticket.select(
        Ticket.id,
        Ticket.subject,
        Ticket.customer.id,
        Ticket.customer.name,
        Ticket.customer.email,
        Ticket.service.name,
        Ticket.service.external_id,
    ).where(Ticket.id.is_in(ticket_ids))
    messages = (
        await Message.select(Message.id, Message.ticket, Message.body, Message.internal)
        .where(
            Message.ticket.is_in(ticket_ids) & (Message.deleted == False)  # noqa: E712
        )
        .order_by(Message.created_at)
        .order_by(Message.id)
    )
    files = await Attachment.select(Attachment.message, Attachment.filename).where(
        Attachment.ticket.is_in(ticket_ids)
    )
    names: dict[int, list[str]] = {}
    for item in files:
        names.setdefault(item["message"], []).append(item["filename"])
    public: dict[int, list[str]] = {}
    internal: dict[int, list[str]] = {}
    for message in messages:
        into = internal if message["internal"] else public
        into.setdefault(message["ticket"], []).extend(
            [message["body"], *names.get(message["id"], [])]
        )
    documents = []
    for row in tickets:
        head = [
            row["subject"],
            row["customer.name"],
            row["customer.email"],
            row["service.name"] or "",
            row["service.external_id"] or "",
        ]
        documents.append(
            (
                row["id"],
                row["customer.id"],
                _public_text(public.get(row["id"], []), head),
                "\n".join(internal.get(row["id"], [])),
            )
        )
    return documents


def _public_text(messages: list[str], head: list[str]) -> str:
    # The messages first, so a passage shown for a match reads from the thread.
    return "\n".join(part for part in [*messages, *head] if part)


async def index_opened_ticket(
    *, ticket_id: int, customer_id: int, customer_name: str, customer_email: str,
    subject: str, body: str, filenames: Sequence[str],
    service_name: str | None = None, service_external_id: str | None = None,
) -> None:
    """The search row of a ticket just opened with one public message, written from what
    the opening already holds (the same text `reindex_tickets` would read back)."""
    head = [subject, customer_name, customer_email, service_name or "", service_external_id or ""]
    await _write(ticket_id, customer_id, _public_text([body, *filenames], head), "")


async def reindex_tickets(ticket_ids: Iterable[int]) -> None:
    """Rewrite the search rows of these tickets from their current text (call inside the
    write path's transaction)."""
    ids = sorted(set(ticket_ids))
    for start in range(0, len(ids), 500):
        for ticket_id, customer_id, public_text, internal_text in await _documents(
            ids[start : start + 500]
        ):
            await _write(ticket_id, customer_id, public_text, internal_text)


_WRITE = Statement(
    "INSERT INTO ticket_search (ticket, customer, public_text, internal_text) "
    "VALUES (:ticket, :customer, :public_text, :internal_text) ON CONFLICT (ticket) DO UPDATE "
    "SET customer = excluded.customer, public_text = excluded.public_text, "
    "internal_text = excluded.internal_text",
    postgres="INSERT INTO ticket_search (ticket, customer, public_text, internal_text, document) "
    "VALUES (:ticket, :customer, :public_text, :internal_text, "
    "setweight(to_tsvector('simple', :public_words), 'A') "
    "|| setweight(to_tsvector('simple', :internal_words), 'B')) "
    "ON CONFLICT (ticket) DO UPDATE SET customer = EXCLUDED.customer, "
    "public_text = EXCLUDED.public_text, internal_text = EXCLUDED.internal_text, "
    "document = EXCLUDED.document",
)


async def _write(ticket_id: int, customer_id: int, public_text: str, internal_text: str) -> None:
    if is_postgres():
        await _WRITE.run(
            ticket=ticket_id, customer=customer_id, public_text=public_text,
            internal_text=internal_text, public_words=" ".join(words(public_text)),
            internal_words=" ".join(words(internal_text)),
        )
        return
    await _WRITE.run(
        ticket=ticket_id, customer=customer_id, public_text=public_text,
        internal_text=internal_text,
    )


async def reindex_customer(customer_id: int) -> None:
    """After the customer's name or e-mail changed: their tickets' search rows."""
    rows = await Ticket.select(Ticket.id).where(Ticket.customer == customer_id)
    await reindex_tickets(row["id"] for row in rows)


async def reindex_service(service_id: int) -> None:
    """After a service's name or external id changed: the search rows of its tickets."""
    rows = await Ticket.select(Ticket.id).where(Ticket.service == service_id)
    await reindex_tickets(row["id"] for row in rows)


async def reindex_missing(batch: int = 2000) -> int:
    """Index every ticket that has no search row yet (after the migration, or a restore);
    the number indexed."""
    done = 0
    while True:
        rows = (
            await Ticket.select(Ticket.id)
            .where(Ticket.id.not_in(TicketSearch.select(TicketSearch.ticket)))
            .limit(batch)
        )
        if not rows:
            return done
        await reindex_tickets(row["id"] for row in rows)
        done += len(rows)


# The engine-specific parts, created by the migration.
POSTGRES_DDL = (
    "ALTER TABLE ticket_search ADD COLUMN IF NOT EXISTS document tsvector "
    "NOT NULL DEFAULT ''::tsvector",
    "CREATE INDEX IF NOT EXISTS ticket_search_document ON ticket_search USING GIN (document)",
)
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS ticket_search_fts USING fts5("
    "public_text, internal_text, content='ticket_search', content_rowid='ticket', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_added AFTER INSERT ON ticket_search BEGIN "
    "INSERT INTO ticket_search_fts (rowid, public_text, internal_text) "
    "VALUES (new.ticket, new.public_text, new.internal_text); END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_removed AFTER DELETE ON ticket_search BEGIN "
    "INSERT INTO ticket_search_fts (ticket_search_fts, rowid, public_text, internal_text) "
    "VALUES ('delete', old.ticket, old.public_text, old.internal_text); END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_changed AFTER UPDATE ON ticket_search BEGIN "
    "INSERT INTO ticket_search_fts (ticket_search_fts, rowid, public_text, internal_text) "
    "VALUES ('delete', old.ticket, old.public_text, old.internal_text); "
    "INSERT INTO ticket_search_fts (rowid, public_text, internal_text) "
    "VALUES (new.ticket, new.public_text, new.internal_text); END",
)


async def create_engine_index() -> None:
    """The tsvector column and its GIN index, or the FTS5 table and its triggers."""
    for statement in POSTGRES_DDL if is_postgres() else SQLITE_DDL:
        await DB.run_ddl(statement)


# ---------------------------------------------------------------- one page of results

MAX_OFFSET = 1000
"""Results past the thousandth are not paged through: refine the query instead."""

RANKED_AT_MOST = 2000
"""A query matching more tickets than this lists them newest first instead of ranking
them: ranking costs a look at every match, and among thousands of matches the best
ones are rarely what an agent wants; a more precise query is ranked again."""


async def _more_matches_than(query: SearchQuery, limit: int, *, public_only: bool) -> bool:
    """Whether more than `limit` tickets (anyone's) match; stops counting at limit + 1."""
    if is_postgres():
        sql = (
            "SELECT count(*) AS n FROM (SELECT 1 FROM ticket_search "
            "WHERE document @@ to_tsquery('simple', {}) LIMIT {}) AS hits"
        )
        argument = pg_tsquery(query, public_only=public_only)
    else:
        sql = (
            "SELECT count(*) AS n FROM (SELECT 1 FROM ticket_search_fts "
            "WHERE ticket_search_fts MATCH {} LIMIT {}) AS hits"
        )
        argument = fts5_match(query, public_only=public_only)
    rows = await TicketSearch.raw(sql, argument, limit + 1)
    return rows[0]["n"] > limit


@dataclass
class Results:
    """One page of matching tickets, best first, with the passage each one matched."""

    rows: list[dict[str, Any]]
    has_more: bool
    snippets: dict[int, Snippet]
    ranked: bool = True


async def search_tickets(
    select: Any, query: SearchQuery, *, public_only: bool, sort: Any, limit: int, offset: int = 0
) -> Results:
    """One page of `select` (a ticket query already limited to what the caller may see)
    matching `query`: best match first, then newest by `sort`. Customers pass
    `public_only=True` and never match an internal note.

    Three queries whatever the table's size: how many match (counted up to
    RANKED_AT_MOST), the page, and its snippets. Beyond RANKED_AT_MOST matches the
    page is newest first (`ranked` is False).
    """
    if not query.terms:
        return Results(rows=[], has_more=False, snippets={})
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed.field(
            "page", tr("Search results stop after %(num)s: refine the search.", num=MAX_OFFSET)
        )
    ranked = not await _more_matches_than(query, RANKED_AT_MOST, public_only=public_only)
    select = select.where(matches(query, public_only=public_only))
    if ranked:
        select = select.order_by(rank(query, public_only=public_only), ascending=False)
    rows = await (
        select.order_by(sort, ascending=False)
        .order_by(Ticket.id, ascending=False)
        .limit(limit + 1)
        .offset(offset)
    )
    page = rows[:limit]
    found = await snippets([row["id"] for row in page], query, public_only=public_only)
    return Results(rows=page, has_more=len(rows) > limit, snippets=found, ranked=ranked)


def offset_cursor(offset: int) -> str:
    """The API's opaque next_cursor for a page of search results."""
    return f"s{offset}"


def parse_offset_cursor(cursor: str | None) -> int:
    """The offset a search cursor points at, or a validation error naming `cursor`."""
    if not cursor:
        return 0
    if not re.fullmatch(r"s\d{1,6}", cursor) or int(cursor[1:]) > MAX_OFFSET:
        raise ValidationFailed.field(
            "cursor", tr("cursor is not valid: use the next_cursor of the previous page.")
        )
    return int(cursor[1:])
