"""The composition root: builds the event log, read store, projections and services from
settings, for the API, the workers and the CLI alike."""

from __future__ import annotations

import logging
import threading
from typing import Any

from eventsourcing.persistence import JSONTranscoder

from bootstrap.contexts import Wiring, views_over, wire
from bootstrap.master_key import recover_embedded
from bootstrap.settings import Settings
from domain.audit.chain_store import integrity_of
from domain.audit.postgres_store import PostgresAuditStore
from domain.audit.sqlite_store import SQLiteAuditStore
from domain.audit.store import AuditStore
from domain.audit.writer import GroupCommitWriter
from domain.privacy.keys import KeyStore, PostgresKeyStore, SQLiteKeyStore
from domain.privacy.personal import PersonalTextTranscoding, Sealer
from domain.shared.clock import Clock, IdSource, RandomIds, SystemClock
from domain.shared.commands import CommandBus
from domain.shared.eventlog import EventLog, metadata_of
from projections.careteam.queries import CareTeamQueries
from projections.platform.projection import Projection
from projections.platform.rebuild import Rebuilds
from projections.platform.revealing import RevealingStore
from projections.platform.runner import ProjectionRunner, Status
from projections.platform.store import PostgresReadStore, RebuildableStore, SQLiteReadStore
from projections.platform.tail import LogTail
from projections.platform.wakeup import PostgresListener, WakeHub

log = logging.getLogger(__name__)


def postgres_env(settings: Settings, create_tables: bool) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    assert settings.database_url
    params = conninfo_to_dict(settings.database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_SCHEMA": settings.database_schema,
        # Open few connections up front and grow on demand: a process with an idle pool
        # should not hold a tenth of the server's connections.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "30",
        # While the database is down a command fails within seconds (the library retries
        # ten times, each waiting this long for a connection) and the API answers 503.
        "POSTGRES_CONNECT_TIMEOUT": str(settings.database_connect_timeout),
        # Never enable POSTGRES_ENABLE_DB_FUNCTIONS: it skips the table lock that keeps
        # positions gap-free for tailing readers (see docs/decisions/0002).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "CREATE_TABLE": "y" if create_tables else "n",
        # Concurrent appends share one transaction (docs/decisions/0031-group-commit.md).
        "GROUP_COMMIT": "y" if settings.group_commit else "n",
    }


def create_schema(settings: Settings) -> None:
    import psycopg
    from psycopg import sql

    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(settings.database_schema)
            )
        )


class Runtime:
    """Everything one process needs. `create_tables` is on for the embedded default, for
    `careloop db init` and for tests; production processes start with it off."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        create_tables: bool | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ids = ids or RandomIds()
        embedded = settings.is_embedded
        if create_tables is None:
            create_tables = embedded
        self.store: RebuildableStore
        self.keys = self._key_store(settings, create_tables)
        # A wrong master key fails here, at start, not at the first read of a patient.
        self.keys.check_master()
        self.sealer = Sealer(self.keys)
        if embedded:
            self.log = EventLog(
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(settings.data_dir / "events.sqlite3"),
                    "SQLITE_LOCK_TIMEOUT": "10",
                }
            )
            self.store = SQLiteReadStore(settings.data_dir / "readmodels.sqlite3")
            self.audit: AuditStore = SQLiteAuditStore(
                settings.data_dir / "audit.sqlite3", settings.audit_key_bytes(), self.clock.now
            )
        else:
            assert settings.database_url
            self.log = EventLog(env=postgres_env(settings, create_tables))
            self.store = PostgresReadStore(settings.database_url, settings.database_schema)
            self.audit = PostgresAuditStore(
                settings.database_url,
                settings.database_schema,
                settings.audit_key_bytes(),
                self.clock.now,
                create_tables=create_tables,
            )
        # Personal text is sealed as events are stored and opened as they are read.
        transcoder = self.log.mapper.transcoder
        assert isinstance(transcoder, JSONTranscoder)
        transcoder.register(PersonalTextTranscoding(self.sealer))
        self.audit_writer = GroupCommitWriter(self.audit, settings.audit_linger_ms / 1000)
        # The audit entries as stored and the event log's chain, for verifying both.
        self.integrity = integrity_of(self.log, self.audit, create_table=create_tables)
        self.commands = CommandBus(self.log, self.clock, self.ids)
        wiring: Wiring = wire(settings, self.log, self.store, self.commands, self.keys)
        self.wiring = wiring
        # The API's queries open personal text on the way out; the domain's never do.
        self.views = views_over(RevealingStore(self.store, self.sealer))
        self.people = wiring.services.people
        self.care_teams = wiring.services.care_teams
        self.conversations = wiring.services.conversations
        self.workouts = wiring.services.workouts
        self.feedback = wiring.services.feedback
        self.notifications = wiring.services.notifications
        self.outbox = wiring.services.outbox
        self.surveys = wiring.services.surveys
        self.plans = wiring.services.plans
        self.webhooks = wiring.services.webhooks
        self.privacy = wiring.services.privacy
        # The care-team queries answer the API: over its opening views, like every GET.
        self.care_team_queries = CareTeamQueries(self.log, self.views.care_team)
        self.reactions = wiring.reactions
        self.deadline_handlers = wiring.deadline_handlers
        self.senders = wiring.senders

        self.projections: list[Projection] = list(wiring.projections)
        self.runners = {
            p.name: ProjectionRunner(p, self.log, self.store, settings.projection_batch_size)
            for p in self.projections
        }
        self.store.prepare_rebuilds()
        self.rebuilds = Rebuilds(
            self.projections, self.log, self.store, self.clock.now, settings.projection_batch_size
        )
        self.hub = WakeHub()
        # Poked when a read model of this process commits: `?minPosition=` waits listen.
        self.read_models_moved = WakeHub()
        for runner in self.runners.values():
            runner.on_commit = self.read_models_moved.poke
        self.log.add_listener(self.hub.poke)
        # The runners of this process follow one shared tail of the log.
        self.tail = LogTail(self.log)
        self.hub.add_callback(self.tail.poke)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: PostgresListener | None = None

    @staticmethod
    def _key_store(settings: Settings, create_tables: bool) -> KeyStore:
        """The patients' data keys, outside the event log (docs/privacy.md)."""
        recover_embedded(settings)  # a master-key rotation a crash interrupted
        if not settings.is_embedded and not settings.master_key:
            log.warning(
                "CARELOOP_MASTER_KEY is unset: the patients' keys are wrapped with a key "
                "derived from CARELOOP_JWT_SECRET; set a master key of its own"
            )
        master = settings.master_key_bytes()
        if settings.is_embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            return SQLiteKeyStore(
                settings.data_dir / "keys.sqlite3", master, cache_seconds=settings.key_cache_seconds
            )
        if create_tables:
            create_schema(settings)
        assert settings.database_url
        return PostgresKeyStore(
            settings.database_url,
            settings.database_schema,
            master,
            create_tables=create_tables,
            cache_seconds=settings.key_cache_seconds,
        )

    @property
    def event_channel(self) -> str:
        """The NOTIFY channel the library's PostgreSQL recorder signals on every insert."""
        return str(getattr(self.log.recorder, "channel_name", "careloop_events"))

    @property
    def backend(self) -> str:
        return "sqlite" if self.settings.is_embedded else "postgresql"

    # -- projections ------------------------------------------------------------------

    def start_listener(self) -> None:
        """On PostgreSQL, turn the log's NOTIFYs into wake-ups (once per process)."""
        if self.settings.is_embedded or self._listener is not None:
            return
        assert self.settings.database_url
        self._listener = PostgresListener(
            self.settings.database_url, self.event_channel, self.hub, self._stop
        )
        self._listener.start()
        self._threads.append(self._listener)

    def start_projections(self) -> None:
        """Follow the log in background threads, one per projection."""
        self.start_listener()
        for runner in self.runners.values():
            runner.follow(self.tail)
            wake = self.hub.subscribe()
            thread = threading.Thread(
                target=runner.run_forever,
                args=(wake, self._stop),
                name=f"projection-{runner.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        # Rebuilds recorded by the API or left half-done by a process that died.
        supervisor = threading.Thread(
            target=self.rebuilds.supervise, args=(self._stop,), name="rebuilds", daemon=True
        )
        supervisor.start()
        self._threads.append(supervisor)

    def catch_up(self) -> None:
        """Bring every read model up to the head, in this thread."""
        for runner in self.runners.values():
            runner.catch_up()

    def projection_status(self) -> list[Status]:
        """Each read model's position against the head."""
        return [runner.status() for runner in self.runners.values()]

    def reaction_status(self) -> list[Status]:
        """Each process manager's tracked position against the head."""
        head = self.log.head()
        return [Status(r.name, self.log.tracked(r.name), head) for r in self.reactions]

    def follower_status(self) -> list[Status]:
        """Every log follower: the read models, then the process managers (which a worker
        host runs; their positions live in the event store, beside the events)."""
        return [*self.projection_status(), *self.reaction_status()]

    def reached(self, name: str, position: int) -> bool:
        """Read model `name` is consistent with the log up to `position`: it has processed
        it, or no event it folds lies between where it is and there (a read model that
        the last events did not concern need not run first to be current)."""
        return self.current(name, position) >= position

    def current(self, name: str, upto: int) -> int:
        """How far read model `name` is consistent with the log, looking no further than
        `upto`: its tracking row's position (or its runner's, in this process, where the
        newest events did not concern it: decision 0037), or up to just before the first
        event it folds that it has not processed."""
        runner = self.runners[name]
        at = runner.current()
        if at >= upto:
            return at
        first = self.log.read(at, 1, stop=upto, topics=runner.topics)
        return first[0].id - 1 if first else upto

    def tenant_at(self, position: int, lookback: int = 16) -> str | None:
        """The tenant whose data the command that wrote up to `position` changed: the
        tenant of its events (the last of which may be its Idempotency-Key's record,
        which has only the caller's tenant)."""
        found = self.log.read(max(position - lookback, 0), lookback, stop=position)
        if not found:
            return None
        metas = [metadata_of(self.log.decode(n)) for n in reversed(found)]
        cause = metas[0].get("causationId")
        for meta in metas:
            if meta.get("causationId") != cause:
                break
            if meta.get("tenantId"):
                return str(meta["tenantId"])
        return None

    # -- health -----------------------------------------------------------------------

    def check_store(self) -> dict[str, Any]:
        return {"ok": True, "backend": self.backend, "head": self.log.head()}

    def check_broker(self) -> dict[str, Any]:
        if not self.settings.redis_url:
            return {"ok": True, "backend": "in-process"}
        import redis

        try:
            client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2)
            client.ping()
            client.close()
            return {"ok": True, "backend": "redis"}
        except redis.RedisError as e:
            return {"ok": False, "backend": "redis", "error": type(e).__name__}

    def close(self) -> None:
        self._stop.set()
        self.hub.poke()  # wake runners out of their poll wait so they see the stop
        self.rebuilds.requested.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self.audit_writer.close()
        self.integrity.close()
        self.audit.close()
        self.keys.close()
        self.store.close()
        self.log.close()
