"""Group commit: many threads' appends to the event log share one PostgreSQL transaction.

The library's recorder takes an EXCLUSIVE lock on the events table in every insert
transaction, so positions commit in the order they were issued and a tailing reader never
passes a position that commits later. That lock makes appends strictly serial, and the
library holds it across a second round trip (insert, sync, then COMMIT), so every append
pays a round trip and a WAL flush alone: ~900 commits/s however many writers there are.

This recorder keeps the lock and amortises it. Concurrent `insert_events` calls are queued;
the first caller to find no transaction in flight becomes the leader, takes everything
queued (its own unit included) and sends, in one pipelined round trip:

    BEGIN; <each unit's tracking row>; SET LOCAL lock_timeout; LOCK TABLE ... EXCLUSIVE;
    NOTIFY <channel>; <one INSERT ... RETURNING per unit>; COMMIT

The lock is taken once, the WAL is flushed once, and the lock is never held while the
client is thinking. Followers sleep until the leader hands them their own notification
ids (or their own error); then one of those still queued leads the next group. A lone
writer is a leader at once: no added latency, and one round trip instead of two.

Each unit keeps its own atomicity and its own conflict check: every unit is its own
statement (one for its events, one for its tracking row), so when the transaction fails
the statement that failed names its unit. That unit alone gets the library's
`IntegrityError`; the transaction is rolled back and the other units are sent again without
it. A tracking row the library's statement silently refuses (a position not above the
stored one) is turned into a server-side error (a division by the zero rows it returned),
so it too aborts the transaction at its own statement instead of being noticed after the
COMMIT. Failures that belong to no unit (the connection, the lock timeout, the COMMIT) go to
every unit of the group, as the library's recorder would raise them, and the library's
retry of `OperationalError`/`InterfaceError` then applies per caller.

psycopg is imported here, an infrastructure adapter like the audit and key stores: the
event log imports this module only when it runs on PostgreSQL
(docs/decisions/0031-group-commit.md).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import retry
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

# The library's translation of psycopg's errors (PostgresDatastore.get_connection), in the
# same order, so a caller sees exactly the exception types the stock recorder raises.
_ERRORS: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.InterfaceError, InterfaceError),
    (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError),
    (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError),
    (psycopg.Error, PersistenceError),
)

_Query = bytes | Composed
_BEGIN = SQL("BEGIN")
_COMMIT = SQL("COMMIT")


def translated(error: BaseException) -> BaseException:
    """A fresh exception of the library's type for `error`: one per caller, since several
    threads may raise what one statement caused."""
    if isinstance(error, PersistenceError):
        fresh: BaseException = type(error)(str(error))
    else:
        for psycopg_type, library_type in _ERRORS:
            if isinstance(error, psycopg_type):
                fresh = library_type(str(error))
                break
        else:
            fresh = PersistenceError(f"group commit failed: {error!r}")
    fresh.__cause__ = error
    return fresh


class _Unit:
    """One caller's `insert_events`: committed whole with its group, or failed alone.

    `wake` is held from the start; whoever releases it wakes this unit's caller, and only
    that caller: once the unit is done, or to lead the next group while it is not."""

    __slots__ = ("done", "error", "ids", "insert", "lead", "tracking", "wake")

    def __init__(self, insert: tuple[_Query, Any] | None, tracking: Tracking | None) -> None:
        self.insert = insert  # the events' statement and parameters; None: no events
        self.tracking = tracking
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False  # handed the lead of the next group
        self.wake = threading.Lock()
        self.wake.acquire()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done = True


class _Statements:
    """The group's statements, rendered to bytes once (psycopg then parses each text once
    and caches it), and the events' INSERT with plain parameters.

    The library inserts a unit's events as an array of a composite type, which psycopg
    dumps in Python, field by field; with one to a few events per unit that was a fifth of
    the leader's time (py-spy, 32 writers). A multi-row VALUES with one parameter per
    column is dumped by psycopg's C dumpers and inserts the same rows: the positions are
    still drawn in row order, and RETURNING gives them back in that order. Past
    `values_rows` events (imports, seeding) the library's statement is used as it is."""

    values_rows = 64

    def __init__(self, recorder: GroupCommitApplicationRecorder) -> None:
        self.recorder = recorder
        self.begin = _BEGIN.as_bytes()
        self.commit = _COMMIT.as_bytes()
        self.lock = [cast("SQL | Composed", q).as_bytes() for q in recorder.lock_table_statements]
        self.notify = recorder.notify_statement.as_bytes()
        self.into = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) VALUES "
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
        self._values: dict[int, bytes] = {}

    def insert(self, events: Sequence[StoredEvent]) -> tuple[_Query, Any]:
        n = len(events)
        if n > self.values_rows:
            recorder = self.recorder
            composite = [
                recorder.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in events
            ]
            return recorder.insert_events_statement, (composite,)
        statement = self._values.get(n)
        if statement is None:
            values = SQL(", ").join([SQL("(%s, %s, %s, %s)")] * n)
            statement = (self.into + values + SQL(" RETURNING notification_id")).as_bytes()
            self._values[n] = statement
        params: list[Any] = []
        for e in events:
            params += (e.originator_id, e.originator_version, e.topic, e.state)
        return statement, params


class _Step:
    """One statement of a group's pipeline, and whose it is (None: the group's own)."""

    __slots__ = ("cursor", "kind", "unit")

    def __init__(self, cursor: psycopg.Cursor[DictRow], unit: _Unit | None, kind: str) -> None:
        self.cursor = cursor
        self.unit = unit
        self.kind = kind

    @property
    def answered(self) -> bool:
        # psycopg attaches a result to a pipelined cursor only when its statement
        # succeeded; the failed statement and every one the server skipped after it have
        # none.
        return self.cursor.pgresult is not None


class _GroupFailedError(Exception):
    """A failure that belongs to no unit: every unit of the group gets it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class GroupCommitApplicationRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder, with concurrent appends committed
    together (module docstring). Reads, subscriptions and table creation are the library's."""

    # Bounds one transaction's size; what is left waits for the next group.
    max_group_units = 256

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._group_lock = threading.Lock()
        self._queue: list[_Unit] = []
        self._leading = False
        self.notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        self._statements = _Statements(self)
        # Figures for tests and the benchmark: how many groups, and how many units in them.
        self.groups_committed = 0
        self.units_committed = 0

    # -- the caller's side -------------------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            # Never CareLoop's configuration (docs/decisions/0002): the library's path.
            ids = super().insert_events(stored_events, **kwargs)
            return cast("Sequence[int] | None", ids)
        tracking = self._tracking_of(kwargs)
        if not stored_events and tracking is None:
            return None
        # Built in the caller's thread, so the leader only sends.
        insert = self._statements.insert(stored_events) if stored_events else None
        unit = _Unit(insert, tracking)
        self._submit(unit)
        if unit.error is not None:
            raise unit.error
        return unit.ids if stored_events else None

    def _tracking_of(self, kwargs: dict[str, Any]) -> Tracking | None:
        return None  # an application recorder has no tracking table

    def _submit(self, unit: _Unit) -> None:
        """Queue `unit` and return once it is committed or failed: led by this thread
        when no group is in flight, by another one otherwise."""
        with self._group_lock:
            self._queue.append(unit)
            leads = not self._leading
            self._leading = True
        if not leads:
            try:
                unit.wake.acquire()  # released once done, or to lead (first in the queue)
            except BaseException:  # Ctrl-C while waiting, in the main thread
                self._withdraw(unit)
                raise
            if unit.done:
                return
        self._lead()

    def _withdraw(self, unit: _Unit) -> None:
        """A follower interrupted while it waited: its unit leaves the queue (if no group
        took it yet), and a lead handed to it passes on, so nobody waits for it."""
        with self._group_lock:
            with contextlib.suppress(ValueError):  # a group took it already
                self._queue.remove(unit)
            successor = self._pass_lead() if unit.lead else None
        if successor is not None:
            successor.wake.release()

    def _pass_lead(self) -> _Unit | None:
        """Under the group lock: the first unit still queued, marked to lead the next
        group, or None, and then no group is in flight."""
        successor = self._queue[0] if self._queue else None
        if successor is not None:
            successor.lead = True
        self._leading = successor is not None
        return successor

    def _lead(self) -> None:
        """Commit one group (the head of the queue: this caller's unit and those queued
        behind it), then wake each of its callers and hand the lead to the first unit
        still queued, if any. Only the threads that have something to do wake up."""
        with self._group_lock:
            group = self._queue[: self.max_group_units]
            del self._queue[: len(group)]
        try:
            self._commit_group(group)
        finally:
            for member in group:
                if not member.done:  # only if the leader itself was interrupted
                    member.fail(PersistenceError("group commit interrupted"))
            with self._group_lock:
                successor = self._pass_lead()
            for member in group:
                member.wake.release()  # the leader's own lock too: nobody waits on it
            if successor is not None:
                successor.wake.release()

    # -- the leader's side -------------------------------------------------------------

    def _commit_group(self, group: list[_Unit]) -> None:
        pending = list(group)
        while pending:
            try:
                culprit = self._try_group(pending)
            except _GroupFailedError as failed:
                for unit in pending:
                    unit.fail(translated(failed.cause))
                return
            except Exception as error:  # raised outside the pipeline, e.g. by the pool
                for unit in pending:
                    unit.fail(translated(error))
                return
            if culprit is None:
                self.groups_committed += 1
                self.units_committed += len(pending)
                for unit in pending:
                    unit.done = True
                return
            # The transaction was rolled back: the others go again, without the culprit.
            pending.remove(culprit)

    def _try_group(self, units: list[_Unit]) -> _Unit | None:
        """One transaction for `units`. Returns None when it committed (every unit's ids
        set), or the unit whose statement failed (its error set, nothing committed).
        Raises _GroupFailedError for a failure of no single unit."""
        statements = self._statements
        with self.datastore.get_connection() as conn:
            steps: list[_Step] = []

            def send(statement: _Query, params: Any, unit: _Unit | None, kind: str) -> None:
                cursor = conn.cursor()
                # Never a server-side prepared statement in a pipeline: when one statement
                # of it fails, the server skips the rest, a PREPARE included, while psycopg
                # counts it as prepared ("prepared statement _pg3_N does not exist" next).
                cursor.execute(statement, params, prepare=False)
                steps.append(_Step(cursor, unit, kind))

            failure: psycopg.Error | None = None
            try:
                with conn.pipeline() as pipeline:
                    send(statements.begin, None, None, "begin")
                    # Tracking rows first, as the library's recorder writes them before it
                    # takes the table lock: the same lock order, so no deadlock with it.
                    for unit in units:
                        if unit.tracking is not None:
                            send(*self._tracking_statement(unit.tracking), unit, "tracking")
                    if any(unit.insert for unit in units):
                        for lock_statement in statements.lock:
                            send(lock_statement, None, None, "lock")
                        send(statements.notify, None, None, "notify")
                        for unit in units:
                            if unit.insert is not None:
                                send(*unit.insert, unit, "events")
                    send(statements.commit, None, None, "commit")
                    pipeline.sync()
            except psycopg.Error as error:
                failure = error
            if failure is None:
                for step in steps:
                    if step.kind == "events":
                        assert step.unit is not None
                        step.unit.ids = [row["notification_id"] for row in step.cursor.fetchall()]
                return None
            self._roll_back(conn, failure)
            return self._blame(steps, failure)

    def _blame(self, steps: list[_Step], failure: psycopg.Error) -> _Unit:
        if isinstance(failure, psycopg.OperationalError | psycopg.InterfaceError):
            raise _GroupFailedError(failure)  # the connection, the lock timeout: everyone's
        failed = next((step for step in steps if not step.answered), None)
        if failed is None or failed.unit is None:
            raise _GroupFailedError(failure)
        unit = failed.unit
        if failed.kind == "tracking" and unit.tracking is not None:
            tracking = unit.tracking
            error: BaseException = IntegrityError(
                "Failed to record tracking for "
                f"{tracking.application_name} {tracking.notification_id}"
            )
            error.__cause__ = failure
        else:
            error = translated(failure)
        unit.fail(error)
        return unit

    @staticmethod
    def _roll_back(conn: psycopg.Connection[DictRow], failure: psycopg.Error) -> None:
        if conn.closed or conn.broken:
            raise _GroupFailedError(failure)
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error as error:
            raise _GroupFailedError(failure) from error

    def _tracking_statement(self, tracking: Tracking) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError  # only a process recorder has tracking rows


class GroupCommitProcessRecorder(GroupCommitApplicationRecorder, PostgresProcessRecorder):
    """The event log's recorder: the group-committing application recorder plus the
    library's tracking table, whose rows commit with the events of their unit."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name
        )
        if self.datastore.single_row_tracking:
            # The library's upsert returns no row when the stored position is not lower;
            # dividing by that count makes the refusal an error at this unit's statement.
            statement: Composed = SQL(
                "WITH tracked AS ({0}) SELECT 1 / count(*) AS tracked FROM tracked"
            ).format(self.insert_tracking_statement)
        else:
            statement = self.insert_tracking_statement  # unique key
        self.group_tracking_statement = statement.as_bytes()

    def _tracking_of(self, kwargs: dict[str, Any]) -> Tracking | None:
        tracking = kwargs.get("tracking")
        if (
            tracking is not None
            and not self.datastore.single_row_tracking
            and not self.has_checked_for_multi_row_tracking_table
        ):
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                self._check_has_multi_row_tracking_table(curs)
        return tracking if isinstance(tracking, Tracking) else None

    def _tracking_statement(self, tracking: Tracking) -> tuple[bytes, dict[str, Any]]:
        return self.group_tracking_statement, {
            "application_name": tracking.application_name,
            "notification_id": tracking.notification_id,
        }


def process_recorder(factory: PostgresFactory) -> GroupCommitProcessRecorder:
    """What `factory.process_recorder()` builds (same tables, same CREATE_TABLE rule),
    with group commit."""
    name = factory.env.name.lower()
    recorder = GroupCommitProcessRecorder(
        factory.datastore,
        events_table_name=(name or "stored") + "_events",
        tracking_table_name=(name or "notification") + "_tracking",
    )
    if factory.env_create_table():
        recorder.create_table()
    return recorder
