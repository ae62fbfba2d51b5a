"""One contract for read-model storage that the SQLite and the PostgreSQL store both pass.

Each PostgreSQL test runs in a fresh schema that it creates and drops.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from projections.platform.projection import Batch
from projections.platform.store import (
    Changes,
    Doc,
    PostgresReadStore,
    ReadStore,
    SQLiteReadStore,
    TrackingConflictError,
)
from tests.support.services import drop_schema, new_schema_name, postgres_url

NAME = "people"
TABLES = ("person", "pet")
A, B = "tenant-a", "tenant-b"

Opener = Callable[[], ReadStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one fresh database location; each call is like another process."""
    opened: list[ReadStore] = []
    if request.param == "sqlite":
        path = tmp_path / "readmodels.sqlite3"

        def open_sqlite() -> ReadStore:
            opened.append(SQLiteReadStore(path))
            return opened[-1]

        yield open_sqlite
        for store in opened:
            store.close()
        return

    url = postgres_url()
    schema = new_schema_name()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def open_postgres() -> ReadStore:
        opened.append(PostgresReadStore(url, schema, max_size=4))
        return opened[-1]

    try:
        yield open_postgres
    finally:
        for store in opened:
            store.close()
        drop_schema(url, schema)


@pytest.fixture
def store(open_store: Opener) -> ReadStore:
    s = open_store()
    s.create(NAME, TABLES)
    return s


def person(key: str, name: str, **more: object) -> Doc:
    return {"id": key, "name": name, **more}


def changes(*rows: tuple[str, str, str | None, Doc | None]) -> Changes:
    c = Changes()
    for table, key, tenant, doc in rows:
        c.rows[(table, key)] = None if doc is None else (tenant, doc)
    return c


def put(table: str, key: str, tenant: str | None, doc: Doc) -> tuple[str, str, str | None, Doc]:
    return (table, key, tenant, doc)


def delete(table: str, key: str) -> tuple[str, str, None, None]:
    return (table, key, None, None)


def test_a_new_projection_starts_at_position_zero_with_empty_tables(store: ReadStore) -> None:
    assert store.position(NAME) == 0
    assert store.list("person") == []
    assert store.get("person", "p1") is None


def test_creating_twice_keeps_rows_and_position(store: ReadStore) -> None:
    store.commit(NAME, 0, 5, changes(put("person", "p1", A, person("p1", "Ann"))))
    store.create(NAME, TABLES)
    assert store.position(NAME) == 5
    assert store.get("person", "p1") == person("p1", "Ann")


def test_documents_round_trip_unchanged(store: ReadStore) -> None:
    doc = person(
        "p1",
        "Zoë Ångström",
        flags={"a": True, "b": False},
        ids=["x", "y"],
        count=3,
        missing=None,
        nested={"deep": {"deeper": [1, 2.5, "three"]}},
    )
    store.commit(NAME, 0, 1, changes(put("person", "p1", A, doc)))
    assert store.get("person", "p1") == doc


def test_get_many_returns_only_the_rows_that_exist(store: ReadStore) -> None:
    store.commit(
        NAME,
        0,
        1,
        changes(put("person", "p1", A, person("p1", "Ann")), put("pet", "p2", A, {"id": "p2"})),
    )
    assert store.get_many("person", ["p1", "p2", "nobody"]) == {"p1": person("p1", "Ann")}
    assert store.get_many("person", []) == {}


def test_get_many_reads_more_keys_than_one_query_page(store: ReadStore) -> None:
    keys = [f"p{i:04d}" for i in range(1100)]
    store.commit(NAME, 0, 1, changes(*(put("person", k, A, person(k, k)) for k in keys)))
    found = store.get_many("person", [*keys, "nobody"])
    assert sorted(found) == keys


def test_list_gives_a_table_or_one_tenant_in_id_order(store: ReadStore) -> None:
    store.commit(
        NAME,
        0,
        3,
        changes(
            put("person", "p3", A, person("p3", "Cy")),
            put("person", "p1", B, person("p1", "Ann")),
            put("person", "p2", A, person("p2", "Bo")),
            put("pet", "x1", A, {"id": "x1"}),
        ),
    )
    assert [d["id"] for d in store.list("person")] == ["p1", "p2", "p3"]
    assert [d["id"] for d in store.list("person", A)] == ["p2", "p3"]
    assert [d["id"] for d in store.list("person", B)] == ["p1"]
    assert store.list("person", "tenant-c") == []


def test_a_later_put_replaces_the_document_and_its_tenant(store: ReadStore) -> None:
    store.commit(NAME, 0, 1, changes(put("person", "p1", A, person("p1", "Ann"))))
    store.commit(NAME, 1, 2, changes(put("person", "p1", B, person("p1", "Anna"))))
    assert store.get("person", "p1") == person("p1", "Anna")
    assert store.list("person", A) == []
    assert store.list("person", B) == [person("p1", "Anna")]


def test_deletes_remove_rows_and_tolerate_missing_ones(store: ReadStore) -> None:
    store.commit(
        NAME,
        0,
        1,
        changes(
            put("person", "p1", A, person("p1", "Ann")), put("person", "p2", A, person("p2", "Bo"))
        ),
    )
    store.commit(NAME, 1, 2, changes(delete("person", "p1"), delete("person", "never")))
    assert store.get("person", "p1") is None
    assert [d["id"] for d in store.list("person")] == ["p2"]
    assert store.position(NAME) == 2


def test_a_commit_moves_the_position_and_writes_the_rows_together(store: ReadStore) -> None:
    store.commit(NAME, 0, 7, changes(put("person", "p1", A, person("p1", "Ann"))))
    other = store  # read back through the same interface the views use
    assert other.position(NAME) == 7
    assert other.get("person", "p1") == person("p1", "Ann")


def test_a_commit_with_no_rows_still_moves_the_position(store: ReadStore) -> None:
    store.commit(NAME, 0, 42, Changes())
    assert store.position(NAME) == 42


def test_a_commit_from_a_stale_position_raises_and_writes_nothing(store: ReadStore) -> None:
    store.commit(NAME, 0, 3, changes(put("person", "p1", A, person("p1", "Ann"))))

    with pytest.raises(TrackingConflictError):
        store.commit(
            NAME,
            0,
            5,
            changes(
                put("person", "p1", A, person("p1", "Overwritten")),
                put("person", "p2", A, person("p2", "New")),
                delete("person", "p1"),
            ),
        )

    assert store.position(NAME) == 3
    assert store.list("person") == [person("p1", "Ann")]


def test_a_commit_made_elsewhere_is_seen_and_makes_this_stale_commit_fail(
    open_store: Opener, store: ReadStore
) -> None:
    elsewhere = open_store()
    elsewhere.create(NAME, TABLES)
    elsewhere.commit(NAME, 0, 4, changes(put("person", "p1", A, person("p1", "Ann"))))

    assert store.position(NAME) == 4
    assert store.get("person", "p1") == person("p1", "Ann")
    with pytest.raises(TrackingConflictError):
        store.commit(NAME, 0, 4, changes(put("person", "p9", A, person("p9", "Lost"))))
    assert elsewhere.get("person", "p9") is None


def test_reset_empties_one_projections_tables_and_rewinds_only_its_position(
    store: ReadStore,
) -> None:
    store.create("pets", ("pet_owner",))
    store.commit(NAME, 0, 9, changes(put("person", "p1", A, person("p1", "Ann"))))
    store.commit("pets", 0, 9, changes(put("pet_owner", "o1", A, {"id": "o1"})))

    store.reset(NAME, TABLES)

    assert store.position(NAME) == 0
    assert store.list("person") == []
    assert store.position("pets") == 9
    assert store.list("pet_owner") == [{"id": "o1"}]
    store.commit(NAME, 0, 1, changes(put("person", "p2", A, person("p2", "Bo"))))
    assert store.list("person") == [person("p2", "Bo")]


def test_unsafe_table_names_are_refused(store: ReadStore) -> None:
    with pytest.raises(ValueError, match="identifier"):
        store.get("person; DROP TABLE person", "p1")


def test_a_batch_reads_its_own_writes_over_committed_rows(store: ReadStore) -> None:
    store.commit(
        NAME,
        0,
        1,
        changes(
            put("person", "p1", A, person("p1", "Ann")), put("person", "p2", A, person("p2", "Bo"))
        ),
    )
    batch = Batch(store)
    batch.prefetch("person", ["p1", "p3"])
    batch.put("person", "p3", A, person("p3", "Cy"))
    batch.delete("person", "p1")
    batch.put("person", "p4", B, person("p4", "Di"))

    assert batch.get("person", "p1") is None
    assert batch.get("person", "p3") == person("p3", "Cy")
    assert [d["id"] for d in batch.list("person", A)] == ["p2", "p3"]
    assert [d["id"] for d in batch.list("person", None)] == ["p2", "p3", "p4"]
    assert store.get("person", "p1") == person("p1", "Ann")  # nothing written yet

    store.commit(NAME, 1, 2, batch.changes)
    assert [d["id"] for d in store.list("person")] == ["p2", "p3", "p4"]


# -- election: PostgreSQL only (the embedded store runs in one process) -------------------


@pytest.fixture
def two_schemas() -> Iterator[tuple[str, str, str]]:
    url = postgres_url()
    schemas = (new_schema_name(), new_schema_name())
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield url, schemas[0], schemas[1]
    finally:
        for schema in schemas:
            drop_schema(url, schema)


def test_only_one_postgres_runner_is_elected_per_projection_and_schema(
    two_schemas: tuple[str, str, str],
) -> None:
    url, schema, _ = two_schemas
    name = f"elect_{uuid.uuid4().hex[:8]}"
    first, second = PostgresReadStore(url, schema, 1), PostgresReadStore(url, schema, 1)
    try:
        with first.elect(name) as elected:
            assert elected
            with second.elect(name) as also:
                assert not also
        with second.elect(name) as elected_after_release:
            assert elected_after_release
    finally:
        first.close()
        second.close()


def test_the_same_projection_in_two_schemas_is_elected_in_each(
    two_schemas: tuple[str, str, str],
) -> None:
    """Two deployments sharing one database (a schema each, or parallel test runs) must
    not keep each other's projections from running."""
    url, one, other = two_schemas
    first, second = PostgresReadStore(url, one, 1), PostgresReadStore(url, other, 1)
    try:
        with first.elect("tenants") as elected, second.elect("tenants") as also:
            assert (elected, also) == (True, True)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    "open_store",
    [
        "sqlite",
        "postgresql",
    ],
    indirect=True,
)
def test_a_reset_that_fails_part_way_changes_nothing(store: ReadStore) -> None:
    store.commit(NAME, 0, 9, changes(put("person", "p1", A, person("p1", "Ann"))))

    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own driver error
        store.reset(NAME, ("person", "no_such_table"))

    assert (store.position(NAME), store.list("person")) == (9, [person("p1", "Ann")])
