"""SQLite for a web process: a few long-lived connections in WAL mode.

Piccolo's SQLiteEngine opens a connection (a thread, a PRAGMA) for every statement
outside a transaction and another for every transaction, and concurrent writers
of one process then queue for SQLite's lock by sleeping in its busy handler.
This engine instead keeps, per process:

- up to `readers` connections for reads outside a transaction (`query_only`, so a
  write sent there by mistake fails loudly); in WAL mode they never wait for a writer;
- writer connections, reused, for transactions and for single writing statements;
- one asyncio lock per event loop in front of them: the process's writers queue
  in order, without sleeping;
- between processes, the writers' turn: an exclusive `flock` on `<database>.write-turn`
  taken just before `BEGIN` and given back just after `COMMIT`. A waiting process
  asks for it every millisecond, where SQLite's busy handler sleeps up to 100 ms
  between tries and lets a busy process take its lock back again and again; it waits
  up to the busy timeout (`BILLDESK_SQLITE_BUSY_TIMEOUT`), as SQLite's own lock does
  for anything else that writes to the file.

Every transaction is `BEGIN IMMEDIATE` unless asked otherwise: it takes the write
lock at once, so it can never fail half-way upgrading a read lock.
Journal mode WAL, `synchronous=NORMAL` (durable across an app crash; the last
transactions may be lost in a power cut), foreign keys on. docs/performance.md.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

# How long a writer waits behind the other writers of its own process.
QUEUE_TIMEOUT = 60.0

# The first word of a statement that only reads; anything else goes to a writer.
_READS = ("SELECT", "VALUES")


def _is_read(sql: str) -> bool:
    head = sql.lstrip(" \t\r\n(")[:6].upper()
    return head.startswith(_READS)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Connection:
    """One sqlite3 connection on its own daemon thread; each statement is one hop."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, turn_path: str | None = None
    ) -> None:
        self._queue: SimpleQueue = SimpleQueue()
        self._sqlite: sqlite3.Connection | None = None
        self._turn_path = turn_path
        self._turn_fd: int | None = None
        self.in_flight = 0
        self.broken = False
        self.closed = False
        thread = threading.Thread(target=self._work, args=(connect,), daemon=True)
        thread.name = "billdesk-sqlite"
        thread.start()

    def _work(self, connect: Callable[[], sqlite3.Connection]) -> None:
        opening_error: BaseException | None = None
        try:
            self._sqlite = connect()
        except BaseException as failure:  # every caller hears it
            self.broken = True
            opening_error = failure
        while True:
            item = self._queue.get()
            if item is None:
                break
            future, function = item
            result: Any = None
            raised: BaseException | None = opening_error
            if raised is None:
                try:
                    result = function(self._sqlite)
                except BaseException as failure:  # handed to the caller
                    raised = failure
            try:
                future.get_loop().call_soon_threadsafe(_settle, future, result, raised)
            except RuntimeError:
                pass  # the caller's event loop is gone
        if self._sqlite is not None:
            self._sqlite.close()
        if self._turn_fd is not None:
            os.close(self._turn_fd)  # lets go of the turn, if a failure left it held

    # The writers' turn: run on the connection's thread, around a write (see the module).

    def _take_turn(self, timeout: float) -> None:
        if self._turn_path is None:
            return
        if self._turn_fd is None:
            self._turn_fd = os.open(self._turn_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(0.001)

    def _end_turn(self) -> None:
        if self._turn_fd is not None:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def _begin(self, sqlite: sqlite3.Connection, statement: str, timeout: float) -> None:
        self._take_turn(timeout)
        try:
            sqlite.execute(statement)
        except BaseException:
            self._end_turn()
            raise

    def _finish(self, sqlite: sqlite3.Connection, statement: str) -> None:
        try:
            sqlite.execute(statement)
        finally:
            self._end_turn()

    def _write(self, sqlite: sqlite3.Connection, sql: str, args: Any, timeout: float) -> list[dict]:
        self._take_turn(timeout)
        try:
            return sqlite.execute(sql, args).fetchall()
        finally:
            self._end_turn()

    async def call(self, function: Callable[[sqlite3.Connection], Any]) -> Any:
        if self.closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        future = asyncio.get_running_loop().create_future()
        self.in_flight += 1
        self._queue.put((future, function))
        try:
            return await future
        finally:
            self.in_flight -= 1

    async def execute(self, sql: str, args: Any = ()) -> list[dict]:
        """Run one statement and fetch all its rows, as Piccolo's row dicts."""
        return await self.call(lambda sqlite: sqlite.execute(sql, args).fetchall())

    async def begin(self, statement: str, wait: float) -> None:
        """BEGIN, once this connection has the writers' turn among the processes."""
        await self.call(lambda sqlite: self._begin(sqlite, statement, wait))

    async def finish(self, statement: str) -> None:
        """COMMIT or ROLLBACK, and the turn goes to the next process's writer."""
        await self.call(lambda sqlite: self._finish(sqlite, statement))

    async def write(self, sql: str, args: Any, wait: float) -> list[dict]:
        """One writing statement outside a transaction, in the writers' turn."""
        return await self.call(lambda sqlite: self._write(sqlite, sql, args, wait))

    def close(self) -> None:
        """Close after the statements already queued; nothing waits for it."""
        if not self.closed:
            self.closed = True
            self._queue.put(None)


class Transaction(SQLiteTransaction):
    """Piccolo's transaction on a reused writer connection, behind the process's write lock."""

    __slots__ = ("_lock", "_settled")

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        engine: BilldeskSQLiteEngine = self.engine  # type: ignore[assignment]
        self._lock = await engine.acquire_write_lock()
        self._settled = False
        connection = None
        try:
            self.connection = connection = engine.take_writer()
            await self.begin()
        except BaseException:
            engine.give_back_writer(connection, clean=False)
            self._lock.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def begin(self) -> None:
        engine: BilldeskSQLiteEngine = self.engine  # type: ignore[assignment]
        await self.connection.begin(f"BEGIN {self.transaction_type.value}", engine.busy_timeout)

    async def commit(self) -> None:
        await self.connection.finish("COMMIT")
        self._committed = True
        self._settled = True

    async def rollback(self) -> None:
        await self.connection.finish("ROLLBACK")
        self._rolled_back = True
        self._settled = True

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        engine: BilldeskSQLiteEngine = self.engine  # type: ignore[assignment]
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            # A connection whose COMMIT or ROLLBACK did not finish (an error, a
            # cancelled task) is closed, which rolls back; it is never reused.
            engine.give_back_writer(self.connection, clean=self._settled)
            self._lock.release()
        return exception is None


class BilldeskSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine with long-lived connections (see the module's docstring)."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0, readers: int = 4) -> None:
        super().__init__(path=path, timeout=busy_timeout)
        self.busy_timeout = busy_timeout
        self.max_readers = readers
        self._readers: list[Connection] = []
        self._idle_writers: list[Connection] = []
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._pid = os.getpid()

    # ------------------------------------------------------------ connections

    def _open(self, *, query_only: bool) -> Connection:
        kwargs = dict(self.connection_kwargs)

        def connect() -> sqlite3.Connection:
            sqlite = sqlite3.connect(**kwargs, cached_statements=256)
            sqlite.row_factory = dict_factory
            sqlite.execute("PRAGMA foreign_keys = 1")
            if sqlite.execute("PRAGMA journal_mode").fetchone()["journal_mode"] != "wal":
                sqlite.execute("PRAGMA journal_mode = WAL")
            sqlite.execute("PRAGMA synchronous = NORMAL")
            if query_only:
                sqlite.execute("PRAGMA query_only = 1")
            return sqlite

        return Connection(connect, turn_path=None if query_only else f"{self.path}.write-turn")

    def _same_process(self) -> None:
        # A forked child shares no thread with its parent: it opens its own.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._readers = []
            self._idle_writers = []
            self._write_locks = weakref.WeakKeyDictionary()

    def reader(self) -> Connection:
        """The least busy reader, or a new one while there are fewer than `readers`."""
        self._same_process()
        self._readers = [each for each in self._readers if not each.broken]
        if self._readers:
            idlest = min(self._readers, key=lambda each: each.in_flight)
            if idlest.in_flight == 0 or len(self._readers) >= self.max_readers:
                return idlest
        connection = self._open(query_only=True)
        self._readers.append(connection)
        return connection

    def take_writer(self) -> Connection:
        self._same_process()
        while self._idle_writers:
            connection = self._idle_writers.pop()
            if not connection.broken:
                return connection
            connection.close()
        return self._open(query_only=False)

    def give_back_writer(self, connection: Connection | None, *, clean: bool) -> None:
        if connection is None:
            return
        if clean and not connection.broken and len(self._idle_writers) < 2:
            self._idle_writers.append(connection)
        else:
            connection.close()

    async def acquire_write_lock(self) -> asyncio.Lock:
        """This process's write lock for the running event loop, waited for up to the busy
        timeout; then 'database is locked', as SQLite itself would answer."""
        self._same_process()
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        try:
            # The process's own writers queue here in order; a long queue is load, not a
            # deadlock, so this waits longer than one writer waits for another process.
            async with asyncio.timeout(max(QUEUE_TIMEOUT, self.busy_timeout)):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        return lock

    async def close_connections(self) -> None:
        """Close the idle connections (at shutdown); new ones open on the next query."""
        for connection in [*self._readers, *self._idle_writers]:
            if not connection.broken:
                # The last connection to close checkpoints the WAL into the database file.
                await connection.call(lambda sqlite: sqlite.close())
            connection.close()
        self._readers = []
        self._idle_writers = []

    # ---------------------------------------------------------------- queries

    async def _write_once(self, sql: str, args: Any) -> list[dict]:
        lock = await self.acquire_write_lock()
        connection = None
        clean = False
        try:
            connection = self.take_writer()
            rows = await connection.write(sql, args, self.busy_timeout)
            clean = True
            return rows
        except sqlite3.Error:
            clean = True  # a failed statement in autocommit leaves no transaction behind
            raise
        finally:
            self.give_back_writer(connection, clean=clean)
            lock.release()

    async def _run(self, sql: str, args: Any) -> list[dict]:
        transaction = self.current_transaction.get()
        if transaction is not None:
            return await transaction.connection.execute(sql, args)
        if _is_read(sql):
            return await self.reader().execute(sql, args)
        return await self._write_once(sql, args)

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False):
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=querystring.__str__())
        sql, args = querystring.compile_string(engine_type=self.engine_type)
        response = await self._run(sql, args)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    async def run_ddl(self, ddl: str, in_pool: bool = False):
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=ddl)
        response = await self._run(ddl, ())
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return Transaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)

    def atomic(self, transaction_type: TransactionType = TransactionType.immediate):
        return super().atomic(transaction_type=transaction_type)
