"""The library's own recorder test cases (eventsourcing 9.5.6, `eventsourcing.tests.
persistence`), run against CareLoop's group-committing recorders on PostgreSQL.

The package ships the abstract cases; their PostgreSQL subclasses live in the library's
repository, not in the package, and the package's `eventsourcing.tests.postgres_utils`
cannot be imported (it needs the repository's `examples` package). So the subclasses here
do what those do: build a datastore, construct the recorder under test in
`create_recorder`, and widen the pool for the concurrent cases. Each test gets a schema of
its own on the test database (not the library's `eventsourcing` database and users), so it
never meets another engineer's tables, and the schema is dropped afterwards.

The cases module imports `eventsourcing.cipher`, which needs pycryptodome: the library's
`crypto` extra, installed for that reason (no recorder case uses the cipher).

Skipped when PostgreSQL is absent; a failure under CI=true (tests/support/services.py).
"""

from __future__ import annotations

import threading
from typing import Literal
from unittest import TestCase
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from domain.shared.group_commit import (
    GroupCommitApplicationRecorder,
    GroupCommitProcessRecorder,
)
from tests.support.services import drop_schema, new_schema_name, postgres_url

# As the library's own PostgreSQL cases do: the longest table name PostgreSQL allows.
EVENTS_TABLE_NAME = "s" * 50 + "stored_events"
TRACKING_TABLE_NAME = "notification_tracking"


class GroupCommitDatastore(TestCase):
    """A datastore on a fresh schema of the test database, closed and dropped after."""

    pool_size = 1
    max_overflow = 0
    originator_id_type: Literal["uuid", "text"] = "uuid"
    single_row_tracking = True

    def setUp(self) -> None:
        super().setUp()
        self.url = postgres_url()
        self.schema = new_schema_name()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(self.schema)))
        params = conninfo_to_dict(self.url)
        self.datastore = PostgresDatastore(
            str(params.get("dbname", "postgres")),
            str(params.get("host", "127.0.0.1")),
            str(params.get("port", "5432")),
            str(params.get("user", "postgres")),
            str(params.get("password", "")),
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            schema=self.schema,
            originator_id_type=self.originator_id_type,
            single_row_tracking=self.single_row_tracking,
        )

    def tearDown(self) -> None:
        self.datastore.close()
        drop_schema(self.url, self.schema)
        super().tearDown()

    def widen_pool(self, size: int) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(size, size)


class WithTextOriginatorID(GroupCommitDatastore):
    originator_id_type = "text"

    def new_originator_id(self) -> UUID | str:
        return "test-" + str(uuid4())


# -- the application recorder ----------------------------------------------------------


class TestGroupCommitApplicationRecorder(
    GroupCommitDatastore, ApplicationRecorderTestCase[GroupCommitApplicationRecorder]
):
    def create_recorder(self) -> GroupCommitApplicationRecorder:
        recorder = GroupCommitApplicationRecorder(
            self.datastore, events_table_name=EVENTS_TABLE_NAME
        )
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.widen_pool(2)
        self.optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.widen_pool(12)
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self.widen_pool(10)
        super().test_concurrent_throughput()

    def test_insert_events_retries_after_its_connection_is_terminated(self) -> None:
        recorder = self.create_recorder()
        recorder.insert_events([self.event(self.new_originator_id(), 1)])
        # Terminate this datastore's own server backends only (other engineers' tests
        # share the server), as the library's test does with all of them.
        with self.datastore.get_connection() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        ids = recorder.insert_events([self.event(self.new_originator_id(), 1)])
        assert ids is not None and len(ids) == 1

    def test_insert_lock_timeout_raises_operational_error(self) -> None:
        self.datastore.lock_timeout = 1
        self.widen_pool(2)
        recorder = self.create_recorder()
        locked = threading.Event()
        release = threading.Event()

        def hold_the_table_lock() -> None:
            with self.datastore.transaction(commit=False) as curs:
                recorder._lock_table(curs)
                locked.set()
                release.wait(timeout=10)

        holder = threading.Thread(target=hold_the_table_lock)
        holder.start()
        try:
            assert locked.wait(timeout=10)
            with self.assertRaises(OperationalError) as raised:
                # One attempt, not the ten the retry decorator would make.
                GroupCommitApplicationRecorder.insert_events.__wrapped__(  # type: ignore[attr-defined]
                    recorder, [self.event(self.new_originator_id(), 1)]
                )
            self.assertIn("lock timeout", str(raised.exception))
        finally:
            release.set()
            holder.join()

    def event(self, originator_id: UUID | str, version: int) -> StoredEvent:
        return StoredEvent(originator_id, version, "topic", b"state")


class TestGroupCommitApplicationRecorderWithTextOriginatorID(
    WithTextOriginatorID, TestGroupCommitApplicationRecorder
):
    pass


class TestGroupCommitApplicationRecorderNonInterleaving(
    GroupCommitDatastore, NonInterleavingNotificationIDsBaseCase
):
    def setUp(self) -> None:
        super().setUp()
        self.widen_pool(2)

    def create_recorder(self) -> GroupCommitApplicationRecorder:
        recorder = GroupCommitApplicationRecorder(
            self.datastore, events_table_name=EVENTS_TABLE_NAME
        )
        recorder.create_table()
        return recorder


# -- the process recorder (the one the event log uses) -----------------------------------


class ProcessRecorderFactory(GroupCommitDatastore):
    def create_recorder(self) -> GroupCommitProcessRecorder:
        recorder = GroupCommitProcessRecorder(
            self.datastore,
            events_table_name=EVENTS_TABLE_NAME,
            tracking_table_name=TRACKING_TABLE_NAME,
        )
        recorder.create_table()
        return recorder


class TestGroupCommitProcessRecorder(ProcessRecorderFactory, ProcessRecorderTestCase):
    def test_a_refused_tracking_position_fails_its_unit_and_writes_none_of_its_events(
        self,
    ) -> None:
        recorder = self.create_recorder()
        recorder.insert_events([], tracking=Tracking("upstream", 5))
        originator = self.new_originator_id()
        with self.assertRaises(IntegrityError):
            recorder.insert_events(
                [StoredEvent(originator, 1, "topic", b"state")],
                tracking=Tracking("upstream", 5),
            )
        self.assertEqual(recorder.select_events(originator), [])
        self.assertEqual(recorder.max_tracking_id("upstream"), 5)


class TestGroupCommitProcessRecorderWithMultiRowTracking(TestGroupCommitProcessRecorder):
    single_row_tracking = False

    def test_raises_when_lower_inserted_later(self) -> None:
        self.skipTest("legacy multi-row tracking stores a lower position too, as the library does")


class TestGroupCommitProcessRecorderAsApplicationRecorder(
    ProcessRecorderFactory, ApplicationRecorderTestCase[GroupCommitProcessRecorder]
):
    def test_insert_subscribe(self) -> None:
        self.widen_pool(2)
        self.optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:
        self.widen_pool(12)
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self.widen_pool(10)
        super().test_concurrent_throughput()


class TestGroupCommitProcessRecorderAsTrackingRecorder(
    ProcessRecorderFactory, TrackingRecorderTestCase
):
    pass


class TestGroupCommitProcessRecorderNonInterleaving(
    ProcessRecorderFactory, NonInterleavingNotificationIDsBaseCase
):
    def setUp(self) -> None:
        super().setUp()
        self.widen_pool(2)
