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
"""

from __future__ import annotations

import re
from typing import Any

_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


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


__all__ = ["Statement"]
