"""CareLoop's one settings class. Nothing else reads the environment."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "careloop-development-secret-change-me"
# HS256 keys shorter than the hash output (RFC 7518, section 3.2) are refused in production.
MIN_JWT_SECRET_BYTES = 32
MASTER_KEY_BYTES = 32


# API processes on PostgreSQL when CARELOOP_API_WORKERS is unset (decision 0035, second
# amendment: two again, now that their sockets send without delay).
DEFAULT_API_WORKERS = 2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARELOOP_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset means SQLite under data_dir"
    )
    database_schema: str = Field(default="public", description="PostgreSQL schema to use")
    redis_url: str | None = Field(default=None, description="Redis URL for Dramatiq")
    data_dir: Path = Field(default=Path(".careloop"), description="embedded data directory")
    jwt_secret: str = Field(default=DEV_JWT_SECRET, description="HS256 secret for JWTs")
    jwt_ttl_seconds: int = Field(default=12 * 3600, description="lifetime of minted tokens")
    projection_batch_size: int = Field(default=500, ge=1, le=10_000)
    min_position_timeout_seconds: float = Field(default=5.0, ge=0, le=30)
    min_position_waits_per_caller: int = Field(
        default=8, ge=1, le=1000, description="`?minPosition=` waits one caller may hold at once"
    )
    feedback_window_seconds: float = Field(
        default=300.0, gt=0, description="coalescing window of therapist notes"
    )
    sweep_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how long a due deadline waits before its wake-up is sent again",
    )
    delivery_lease_seconds: float = Field(
        default=30.0, gt=0, description="how long a claimed delivery attempt may take"
    )
    worker_threads: int = Field(default=4, ge=1, le=64, description="Dramatiq worker threads")
    expo_base_url: str | None = Field(
        default=None,
        description="Expo push API base URL; unset means pushes are recorded, not sent",
    )
    expo_access_token: str | None = Field(default=None, description="Expo access token")
    smtp_url: str | None = Field(
        default=None,
        description="SMTP server URL for email; unset means emails are recorded, not sent",
    )
    email_from: str = Field(
        default="CareLoop <no-reply@careloop.invalid>", description="From address of emails"
    )
    survey_token_expiry_days: int = Field(
        default=30, ge=1, description="how long a survey or satisfaction-check link is valid"
    )
    satisfaction_reminder_days: float = Field(
        default=3, gt=0, description="when an unanswered satisfaction check is reminded"
    )
    link_key: str | None = Field(
        default=None,
        description="key that makes one-time link tokens (32+ bytes); unset derives one "
        "from the JWT secret",
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="where patients open their one-time links (emails and pushes)",
    )
    webhook_allow_private: bool = False
    master_key: str | None = Field(
        default=None,
        description="base64 of the 32-byte key that wraps every patient's data key; set it "
        "in production (unset with CARELOOP_DATABASE_URL, one is derived from the JWT "
        "secret, with a warning); on the embedded default one is generated into the data "
        "directory (master.key) on first start",
    )
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="how long a process keeps a patient's unwrapped key: another process "
        "stops reading an erased patient's data at most this long after the erasure",
    )
    audit_key: str | None = Field(
        default=None,
        description="HMAC key of the audit trail's and the event log's hash chains (32+ "
        "bytes); unset derives one from the JWT secret",
    )
    audit_linger_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="how long the audit writer waits for more entries before a group commit",
    )
    database_connect_timeout: int = Field(
        default=1,
        ge=1,
        le=60,
        description="seconds a PostgreSQL command waits for a connection of the event log's "
        "pool (the library tries ten times): small, so a command fails within seconds while "
        "the database is down and the API answers 503",
    )
    group_commit: bool = Field(
        default=True,
        description="on PostgreSQL, commit concurrent appends to the event log together: one "
        "transaction, one table lock, one WAL flush (docs/decisions/0031-group-commit.md)",
    )
    audit_reads: bool = Field(
        default=True, description="record reads in the audit trail (off only to measure it)"
    )
    api_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="API processes `careloop serve` runs on PostgreSQL (unset: "
        f"{DEFAULT_API_WORKERS}, docs/decisions/0035-http-throughput.md); the embedded "
        "default serves from its one process",
    )
    access_log: bool = Field(
        default=True, description="uvicorn's access log, one line per request on stdout"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="largest request body accepted; larger ones are 413 before being read",
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="largest request head (request line and headers) accepted; larger is 431",
    )

    @property
    def is_embedded(self) -> bool:
        return not self.database_url

    @property
    def weak_jwt_secret(self) -> str | None:
        """Why the JWT secret is unfit for a shared deployment, or None when it is fit."""
        if self.jwt_secret == DEV_JWT_SECRET:
            return "CARELOOP_JWT_SECRET is the development default"
        if len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
            return f"CARELOOP_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes"
        return None

    def link_key_bytes(self) -> bytes:
        """The one-time links' key: its own setting, or one derived from the JWT secret
        (so a deployment that sets neither still never stores a token)."""
        if self.link_key:
            return self.link_key.encode()
        return hashlib.sha256(b"careloop one-time links\0" + self.jwt_secret.encode()).digest()

    def master_key_bytes(self) -> bytes:
        """The master key: CARELOOP_MASTER_KEY; on the embedded default, the data
        directory's `master.key` (made on first start); unset with a database URL, one
        derived from the JWT secret, which puts both secrets in one place (the runtime
        logs a warning)."""
        if self.master_key:
            return decode_master_key(self.master_key)
        if self.is_embedded:
            return embedded_master_key(self.data_dir / "master.key")
        return hashlib.sha256(b"careloop master key\0" + self.jwt_secret.encode()).digest()

    def audit_key_bytes(self) -> bytes:
        if self.audit_key:
            return self.audit_key.encode()
        return hashlib.sha256(b"careloop audit chain\0" + self.jwt_secret.encode()).digest()


def decode_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(
            f"CARELOOP_MASTER_KEY must be the base64 of {MASTER_KEY_BYTES} random bytes, e.g. "
            "`python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'`"
        )
    return key


def embedded_master_key(path: Path) -> bytes:
    """The embedded default's master key, made on first start (readable by its owner
    only). Whoever copies the data directory copies the key with it: see docs/privacy.md."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode() + "\n")
    return decode_master_key(path.read_text())


@lru_cache
def get_settings() -> Settings:
    return Settings()
