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


# -- range queries on a sorted table: upto, first, page ----------------------------------

QUEUE = "queue"
DUE = "due"


@pytest.fixture
def sorted_store(open_store: Opener) -> ReadStore:
    """A store with one table whose rows keep their `sortKey` field in the indexed column."""
    s = open_store()
    s.create(QUEUE, (DUE,), {DUE: "sortKey"})
    return s


def due(key: str, sort_key: str | None, **more: object) -> Doc:
    doc: Doc = {"id": key, **more}
    if sort_key is not None:
        doc["sortKey"] = sort_key
    return doc


def ids(docs: list[Doc]) -> list[str]:
    return [d["id"] for d in docs]


def test_upto_reads_the_rows_up_to_a_sort_key_smallest_first_and_at_most_limit(
    sorted_store: ReadStore,
) -> None:
    sorted_store.commit(
        QUEUE,
        0,
        1,
        changes(
            put(DUE, "d3", A, due("d3", "2026-01-05T09:00:03")),
            put(DUE, "d1", A, due("d1", "2026-01-05T09:00:01")),
            put(DUE, "d4", B, due("d4", "2026-01-05T09:00:04")),
            put(DUE, "d2", A, due("d2", "2026-01-05T09:00:02")),
        ),
    )

    assert ids(sorted_store.upto(DUE, "2026-01-05T09:00:03", 10)) == ["d1", "d2", "d3"]
    assert ids(sorted_store.upto(DUE, "2026-01-05T09:00:02.5", 10)) == ["d1", "d2"]
    assert ids(sorted_store.upto(DUE, "2026-01-05T09:00:09", 2)) == ["d1", "d2"]
    assert sorted_store.upto(DUE, "2026-01-05T09:00:00", 10) == []
    assert sorted_store.upto(DUE, "2026-01-05T09:00:01", 10) == [due("d1", "2026-01-05T09:00:01")]


def test_first_is_the_row_with_the_smallest_sort_key_and_none_when_there_is_none(
    sorted_store: ReadStore,
) -> None:
    assert sorted_store.first(DUE) is None
    sorted_store.commit(
        QUEUE,
        0,
        1,
        changes(put(DUE, "late", A, due("late", "b")), put(DUE, "early", A, due("early", "a"))),
    )
    assert sorted_store.first(DUE) == due("early", "a")


def test_moving_or_deleting_a_row_moves_it_in_or_out_of_every_range(
    sorted_store: ReadStore,
) -> None:
    sorted_store.commit(
        QUEUE,
        0,
        1,
        changes(put(DUE, "d1", A, due("d1", "1")), put(DUE, "d2", A, due("d2", "2"))),
    )
    sorted_store.commit(QUEUE, 1, 2, changes(put(DUE, "d1", A, due("d1", "3"))))
    assert ids(sorted_store.upto(DUE, "9", 10)) == ["d2", "d1"]
    assert ids(sorted_store.upto(DUE, "2", 10)) == ["d2"]
    assert sorted_store.first(DUE) == due("d2", "2")

    sorted_store.commit(QUEUE, 2, 3, changes(delete(DUE, "d2")))
    assert ids(sorted_store.upto(DUE, "9", 10)) == ["d1"]
    assert sorted_store.first(DUE) == due("d1", "3")
    assert ids(sorted_store.page(DUE, None, "", "9", 10)) == ["d1"]


def test_a_row_without_the_sort_field_is_stored_but_in_no_range(sorted_store: ReadStore) -> None:
    sorted_store.commit(
        QUEUE,
        0,
        1,
        changes(put(DUE, "unsorted", A, due("unsorted", None)), put(DUE, "d1", A, due("d1", "5"))),
    )
    assert sorted_store.get(DUE, "unsorted") == due("unsorted", None)
    assert ids(sorted_store.upto(DUE, "\uffff", 10)) == ["d1"]
    assert sorted_store.first(DUE) == due("d1", "5")
    assert ids(sorted_store.page(DUE, None, "", "\uffff", 10)) == ["d1"]


def test_page_reads_the_rows_strictly_between_two_keys_of_one_tenant_or_all_in_key_order(
    sorted_store: ReadStore,
) -> None:
    rows = [
        ("f1", A, "failed|0001|f1"),
        ("p3", A, "pending|0003|p3"),
        ("p1", A, "pending|0001|p1"),
        ("p2", B, "pending|0002|p2"),
        ("p4", A, "pending|0004|p4"),
        ("s1", A, "sent|0001|s1"),
    ]
    sorted_store.commit(QUEUE, 0, 1, changes(*(put(DUE, k, t, due(k, key)) for k, t, key in rows)))
    pending = ("pending|", "pending|\uffff")

    assert ids(sorted_store.page(DUE, None, *pending, 10)) == ["p1", "p2", "p3", "p4"]
    assert ids(sorted_store.page(DUE, A, *pending, 10)) == ["p1", "p3", "p4"]
    assert ids(sorted_store.page(DUE, B, *pending, 10)) == ["p2"]
    assert ids(sorted_store.page(DUE, A, *pending, 2)) == ["p1", "p3"]
    # The next page starts after the last key read, which is excluded.
    assert ids(sorted_store.page(DUE, A, "pending|0003|p3", pending[1], 2)) == ["p4"]
    assert sorted_store.page(DUE, A, "pending|0004|p4", pending[1], 2) == []
    assert ids(sorted_store.page(DUE, A, "", "\uffff", 10)) == ["f1", "p1", "p3", "p4", "s1"]
    assert sorted_store.page(DUE, "tenant-c", "", "\uffff", 10) == []


def test_sort_keys_compare_by_code_point_not_by_locale(sorted_store: ReadStore) -> None:
    """Both backends order keys as their UTF-8 bytes: upper case before lower case,
    punctuation by its code, and U+FFFF after every key that starts alike."""
    keys = ["b", "B", "a", "Z", "a|z", "a_", "a\uffff", "é", "1"]
    sorted_store.commit(
        QUEUE, 0, 1, changes(*(put(DUE, f"k{i}", A, due(f"k{i}", k)) for i, k in enumerate(keys)))
    )
    in_order = [d["sortKey"] for d in sorted_store.upto(DUE, "\uffff", 100)]
    assert in_order == sorted(keys) == ["1", "B", "Z", "a", "a_", "a|z", "a\uffff", "b", "é"]
    assert [d["sortKey"] for d in sorted_store.page(DUE, None, "a|", "a|\uffff", 10)] == ["a|z"]


def test_a_large_commit_keeps_every_rows_sort_key(sorted_store: ReadStore) -> None:
    """Enough rows at once for PostgreSQL to write them through COPY."""
    keys = [f"{i:05d}" for i in range(120)]
    sorted_store.commit(
        QUEUE, 0, 1, changes(*(put(DUE, f"r{k}", A, due(f"r{k}", k)) for k in reversed(keys)))
    )
    assert [d["sortKey"] for d in sorted_store.upto(DUE, "99999", 1000)] == keys
    assert [d["sortKey"] for d in sorted_store.page(DUE, A, "00009", "00013", 10)] == [
        "00010",
        "00011",
        "00012",
    ]


def test_creating_a_sorted_table_again_keeps_its_rows_and_their_order(
    open_store: Opener, sorted_store: ReadStore
) -> None:
    sorted_store.commit(
        QUEUE, 0, 1, changes(put(DUE, "d2", A, due("d2", "2")), put(DUE, "d1", A, due("d1", "1")))
    )
    again = open_store()
    again.create(QUEUE, (DUE,), {DUE: "sortKey"})
    again.commit(QUEUE, 1, 2, changes(put(DUE, "d0", A, due("d0", "0"))))
    assert ids(again.upto(DUE, "9", 10)) == ["d0", "d1", "d2"]
    assert ids(sorted_store.upto(DUE, "9", 10)) == ["d0", "d1", "d2"]


def test_a_table_created_unsorted_and_later_declared_sorted_gets_its_indexed_column(
    open_store: Opener,
) -> None:
    """A read model that starts sorting a table it already had (an upgrade): the column
    and its index are added, old rows stay readable, rows written from then on are in
    ranges (old rows enter them when the read model is rebuilt)."""
    before = open_store()
    before.create(QUEUE, (DUE,))
    before.commit(QUEUE, 0, 1, changes(put(DUE, "old", A, due("old", "1"))))
    after = open_store()
    after.create(QUEUE, (DUE,), {DUE: "sortKey"})
    after.commit(QUEUE, 1, 2, changes(put(DUE, "new", A, due("new", "2"))))
    assert ids(after.page(DUE, None, "", "9", 10)) == ["new"]
    assert after.get(DUE, "old") == due("old", "1")
