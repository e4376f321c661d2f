"""PostgreSQL with one pooled connection per request.

Piccolo's PostgresEngine takes a pool connection for every statement sent outside
a transaction and another for every transaction: a page of six queries checks a
connection out and back six times. Here a request binds one connection, taken from
the pool at its first query (`RequestConnection`, set by `OneConnectionPerRequest`),
and every statement and transaction of the request runs on it.

The rules that keep this safe:

- Transactions keep their meaning: `DB.transaction()` still begins, commits and
  rolls back exactly where it did, and a nested one still joins its parent; it only
  runs on the request's connection instead of a fresh one.
- The connection is used by one statement or one transaction at a time. A query
  sent while it is busy (another task of the same request, or a statement outside
  a transaction while the request's transaction is open in another task) takes its
  own pool connection, as before.
- The connection goes back to the pool when the response starts, so a streamed
  answer holds none while it streams (later queries take their own), and in any
  case when the request ends, on error or cancellation too. A connection whose
  transaction did not finish cleanly is given back at once; the pool's reset rolls
  it back (app.py) before anyone else gets it.
"""

from __future__ import annotations

import contextvars
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.querystring import QueryString

from billdesk.sql import flush_writes, has_queued_writes


class RequestConnection:
    """The one pool connection of a request, taken at its first query."""

    __slots__ = ("acquired", "closed", "connection", "engine", "in_use")

    def __init__(self, engine: BilldeskPostgresEngine) -> None:
        self.engine = engine
        self.connection: Any = None
        self.in_use = False
        self.closed = False
        self.acquired = 0  # pool check-outs made for this request (the tests count them)

    async def take(self) -> Any:
        """The connection, now this caller's alone; None while busy or after the request."""
        if self.in_use or self.closed or self.engine.pool is None:
            return None
        self.in_use = True
        if self.connection is None:
            try:
                self.connection = await self.engine.pool.acquire()
            except BaseException:
                self.in_use = False
                raise
            self.acquired += 1
        return self.connection

    async def put_back(self, *, clean: bool) -> None:
        """After a use. A connection left in an unknown state (a cancelled statement, a
        transaction that did not end) leaves the request and goes back to the pool now."""
        connection = self.connection
        if not clean or self.closed:
            self.connection = None
            self.in_use = False
            if connection is not None and self.engine.pool is not None:
                await self.engine.pool.release(connection)
            return
        self.in_use = False

    async def lend_back(self) -> None:
        """Back to the pool while idle; the request's next query takes one again."""
        if not self.in_use and self.connection is not None:
            connection, self.connection = self.connection, None
            if self.engine.pool is not None:
                await self.engine.pool.release(connection)

    async def release(self) -> None:
        """At the end of the request: back to the pool, unless a straggling task still
        uses it (that task gives it back when done)."""
        self.closed = True
        if not self.in_use and self.connection is not None:
            connection, self.connection = self.connection, None
            if self.engine.pool is not None:
                await self.engine.pool.release(connection)


_request_connection: contextvars.ContextVar[RequestConnection | None] = contextvars.ContextVar(
    "billdesk_request_connection", default=None
)


def current_request_connection() -> RequestConnection | None:
    return _request_connection.get()


async def give_back_while_waiting() -> None:
    """Before the request waits on something that is not the database (a Stripe call, a
    pause between retries): its connection goes back to the pool meanwhile, so requests
    that wait cannot hold every connection of the pool."""
    bound = _request_connection.get()
    if bound is not None:
        await bound.lend_back()


class Transaction(PostgresTransaction):
    """Piccolo's transaction, on the request's connection when it is free."""

    __slots__ = ("_bound", "_settled")

    async def get_connection(self) -> Any:
        self._bound = None
        self._settled = False
        bound = _request_connection.get()
        if bound is not None:
            connection = await bound.take()
            if connection is not None:
                self._bound = bound
                return connection
        return await super().get_connection()

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            self.transaction = self.connection.transaction()
            await self.begin()
        except BaseException:
            await self._give_back(clean=False)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def commit(self) -> None:
        await super().commit()
        self._settled = True

    async def rollback(self) -> None:
        await super().rollback()
        self._settled = True

    async def _give_back(self, *, clean: bool) -> None:
        if self._bound is not None:
            await self._bound.put_back(clean=clean)
        elif self.engine.pool:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back(clean=self._settled)
        return exception is None


class BilldeskPostgresEngine(PostgresEngine):
    """Piccolo's PostgresEngine that runs a request's statements on its one connection."""

    async def _run(self, sql: str, args: Any) -> Any:
        if has_queued_writes():
            # Every query sees the writes queued before it (billdesk.sql.batched_writes).
            await flush_writes()
        transaction = self.current_transaction.get()
        if transaction is not None:
            return await transaction.connection.fetch(sql, *args)
        bound = _request_connection.get()
        if bound is not None:
            connection = await bound.take()
            if connection is not None:
                clean = False
                try:
                    rows = await connection.fetch(sql, *args)
                    clean = True
                    return rows
                except Exception:
                    # A statement that failed outside a transaction left none open.
                    clean = not connection.is_closed()
                    raise
                finally:
                    await bound.put_back(clean=clean)
        if self.pool:
            return await self._run_in_pool(sql, args)
        return await self._run_in_new_connection(sql, args)

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True):
        sql, args = querystring.compile_string(engine_type=self.engine_type)
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=querystring.__str__())
        response = await self._run(sql, args)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    async def run_ddl(self, ddl: str, in_pool: bool = True):
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=ddl)
        response = await self._run(ddl, ())
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return Transaction(engine=self, allow_nested=allow_nested)


class OneConnectionPerRequest(ASGIMiddleware):
    """Bind one pool connection to each HTTP request (see the module's docstring)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not isinstance(self.engine, BilldeskPostgresEngine) or self.engine.pool is None:
            await next_app(scope, receive, send)
            return
        bound = RequestConnection(self.engine)
        token = _request_connection.set(bound)

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                # What the handler needed is fetched; a streamed body takes its own.
                await bound.release()
            await send(message)

        try:
            await next_app(scope, receive, send_releasing)
        finally:
            _request_connection.reset(token)
            await bound.release()
