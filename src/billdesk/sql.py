"""Statements whose SQL is written once, for the queries every request sends.

Piccolo builds a query's SQL anew each time it runs: it copies the columns of every
join, walks the where clause and compiles the placeholders. For most queries that
is nothing; for the few that every request sends (the token and session look-ups,
a list's page of rows) it cost more CPU than the database spent answering them
(docs/performance.md). A `Statement` is SQL text written once for both engines,
compiled to the engine's placeholders the first time it runs and reused after.

It runs through the engine's `_run`, exactly where Piccolo's own queries run: inside
the caller's transaction when there is one, on the request's connection on
PostgreSQL (db_postgres.py), on a reader or the writer on SQLite (db_sqlite.py).

    TOKEN = Statement("SELECT id, user_id FROM api_tokens WHERE token_hash = :digest")
    row = await TOKEN.first(digest=digest)

Parameters are `:name` (a name may appear more than once); `::type` casts are left
alone. Rows come back as dicts keyed by the select's column names or aliases. Values
go to the driver as they are: pass an enum's `.value`, not the enum. A statement
must read the same on both engines; where they differ, give `postgres=` the
PostgreSQL text and the first argument the SQLite one.

Writes whose results nobody reads (an update, a history line, a job) can go to
PostgreSQL together: inside `batched_writes()`, `Statement.write()` queues them and
they are sent as one statement (data-modifying WITH clauses) when the block ends, or
before any other query the block sends, so every query still sees every write
before it. One round trip instead of one per write: a paid ticket's payment writes
nine rows at once (payments/charges.py). SQLite has no round trips to save and runs
each write at once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_NUMBERED = re.compile(r"\$(\d+)\b")


class Statement:
    """One SQL statement, compiled once per engine (see the module's docstring)."""

    __slots__ = ("_compiled", "postgres", "text")

    def __init__(self, text: str, *, postgres: str | None = None) -> None:
        self.text = text
        self.postgres = postgres
        self._compiled: tuple[str, str, tuple[str, ...]] | None = None

    def compiled(self, engine_type: str) -> tuple[str, tuple[str, ...]]:
        """The engine's SQL and the parameter names in the order its arguments go."""
        if self._compiled is None or self._compiled[0] != engine_type:
            text = self.postgres if engine_type == "postgres" and self.postgres else self.text
            names: list[str] = []
            if engine_type == "postgres":

                def numbered(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name not in names:
                        names.append(name)
                    return f"${names.index(name) + 1}"

                sql = _PARAMETER.sub(numbered, text)
            else:

                def positional(match: re.Match[str]) -> str:
                    names.append(match.group(1))
                    return "?"

                sql = _PARAMETER.sub(positional, text)
            self._compiled = (engine_type, sql, tuple(names))
        return self._compiled[1], self._compiled[2]

    async def rows(self, **parameters: Any) -> list[dict[str, Any]]:
        from billdesk.db import DB

        sql, names = self.compiled(DB.engine_type)
        try:
            arguments = tuple(parameters[name] for name in names)
        except KeyError as missing:
            raise TypeError(f"the statement needs the parameter {missing}") from None
        rows = await DB._run(sql, arguments)  # type: ignore[union-attr]  # both billdesk engines
        if rows and not isinstance(rows[0], dict):
            return [dict(row) for row in rows]  # asyncpg's records
        return list(rows) if rows is not None else []

    async def first(self, **parameters: Any) -> dict[str, Any] | None:
        rows = await self.rows(**parameters)
        return rows[0] if rows else None

    async def run(self, **parameters: Any) -> None:
        """For a statement that returns nothing worth reading (an update, an insert)."""
        await self.rows(**parameters)

    async def write(self, *, row: Hashable | None = None, **parameters: Any) -> None:
        """`run()`, or queued for the end of the enclosing `batched_writes()` block on
        PostgreSQL: an `INSERT … VALUES (…)`, or a statement that changes the one row
        named by `row` (("table", id)). Anything else runs at once."""
        from billdesk.db import DB

        batch = _batch.get()
        if batch is None or DB.engine_type != "postgres":
            await self.run(**parameters)
            return
        _, names = self.compiled("postgres")
        try:
            arguments = tuple(parameters[name] for name in names)
        except KeyError as missing:
            raise TypeError(f"the statement needs the parameter {missing}") from None
        await batch.queue(self, arguments, row)


_INSERT_VALUES = re.compile(
    r"INSERT INTO\s+(\S+)\s*\([^()]*\)\s*VALUES\s*(\(.*\))(\s+RETURNING\s+[^()]*)?", re.S
)


@lru_cache(maxsize=256)
def _inserted_table(statement: Statement) -> str | None:
    """The table an `INSERT INTO table (…) VALUES (…) [RETURNING …]` writes one row of."""
    sql, _ = statement.compiled("postgres")
    found = _INSERT_VALUES.fullmatch(sql)
    return found.group(1) if found else None


class _Batch:
    """The writes queued by one `batched_writes()` block, in groups sent in order: the
    rows of one insert statement go in one multi-row INSERT, so their ids come in the
    order they were written; each one-row write is a group of its own."""

    __slots__ = ("groups", "inserting", "rows")

    def __init__(self) -> None:
        self.groups: list[tuple[Statement, list[tuple[Any, ...]]]] = []
        # table → the statement inserting into it and its group's rows
        self.inserting: dict[str, tuple[Statement, list[tuple[Any, ...]]]] = {}
        self.rows: set[Hashable] = set()

    async def queue(
        self, statement: Statement, arguments: tuple[Any, ...], row: Hashable | None
    ) -> None:
        table = _inserted_table(statement)
        if table is not None:
            inserting = self.inserting.get(table)
            if inserting is not None and inserting[0] is not statement:
                # Another statement inserts into the table: its rows go first, in order.
                await flush_writes()
                inserting = None
            if inserting is None:
                inserting = self.inserting[table] = (statement, [])
                self.groups.append(inserting)
            inserting[1].append(arguments)
            return
        if row is None:
            # Not known to touch a single row: sent in order, after what is queued.
            await flush_writes()
            await _run_one(statement, arguments)
            return
        if row in self.rows:
            # One statement cannot change a row twice: the first change goes first.
            await flush_writes()
        self.rows.add(row)
        self.groups.append((statement, [arguments]))

    def take(self) -> tuple[tuple[tuple[Statement, int], ...], tuple[Any, ...]]:
        """The queued groups' shape and arguments, leaving the batch empty."""
        shape = tuple((statement, len(rows)) for statement, rows in self.groups)
        arguments = tuple(value for _, rows in self.groups for values in rows for value in values)
        self.groups, self.inserting, self.rows = [], {}, set()
        return shape, arguments


_batch: ContextVar[_Batch | None] = ContextVar("billdesk_batched_writes", default=None)


@asynccontextmanager
async def batched_writes() -> AsyncIterator[None]:
    """Send the block's `Statement.write()`s to PostgreSQL together (see the module's
    docstring), in the caller's transaction. Inside, a write may not depend on the
    effect of an earlier one other than through a query (which sends the queue first):
    an update of a row inserted by a queued write would not see it. A block that
    raises sends nothing more; a nested block joins the outer one. Query from the
    block's own task only: a task started inside it would send the same queue.
    """
    if _batch.get() is not None:
        yield
        return
    token = _batch.set(_Batch())
    try:
        yield
        await flush_writes()
    finally:
        _batch.reset(token)


def batching() -> bool:
    """True inside `batched_writes()` on PostgreSQL, where `write()` queues."""
    from billdesk.db import DB

    return _batch.get() is not None and DB.engine_type == "postgres"


def has_queued_writes() -> bool:
    batch = _batch.get()
    return batch is not None and bool(batch.groups)


async def flush_writes() -> None:
    """Send the queued writes now (the engine calls this before any other query)."""
    from billdesk.db import DB

    batch = _batch.get()
    if batch is None or not batch.groups:
        return
    shape, arguments = batch.take()
    await DB._run(_combined(shape), arguments)  # type: ignore[union-attr]  # both billdesk engines


async def _run_one(statement: Statement, arguments: tuple[Any, ...]) -> None:
    from billdesk.db import DB

    sql, _ = statement.compiled("postgres")
    await DB._run(sql, arguments)  # type: ignore[union-attr]


def _renumbered(sql: str, offset: int) -> str:
    """PostgreSQL's placeholders $1, $2… numbered from offset + 1."""
    if not offset:
        return sql
    return _NUMBERED.sub(lambda match: f"${int(match.group(1)) + offset}", sql)


@lru_cache(maxsize=128)
def _combined(shape: tuple[tuple[Statement, int], ...]) -> str:
    """One PostgreSQL statement for the queued groups, in order: each group's statement
    (an insert's rows as one multi-row VALUES) but the last in a WITH clause of its own,
    the placeholders numbered on from the ones before."""
    parts: list[str] = []
    offset = 0
    for statement, count in shape:
        sql, names = statement.compiled("postgres")
        if count == 1:
            parts.append(_renumbered(sql, offset))
            offset += len(names)
            continue
        found = _INSERT_VALUES.fullmatch(sql)
        assert found is not None
        values = []
        for _ in range(count):
            values.append(_renumbered(found.group(2), offset))
            offset += len(names)
        parts.append(sql[: found.start(2)] + ", ".join(values) + (found.group(3) or ""))
    if len(parts) == 1:
        return parts[0]
    clauses = ", ".join(f"written_{n} AS ({sql})" for n, sql in enumerate(parts[:-1], 1))
    return f"WITH {clauses} {parts[-1]}"


__all__ = ["Statement", "batched_writes", "batching", "flush_writes", "has_queued_writes"]
