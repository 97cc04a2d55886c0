"""SQLAlchemy table definitions (the schema Alembic migrations create)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table

metadata = MetaData()

registrations = Table(
    "registrations",
    metadata,
    Column("id", String(600), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("extension", String(32), nullable=False),
    Column("binding_key", String(512), nullable=False),
    Column("contact", String(1024), nullable=False),
    Column("uri", String(1024), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("call_id", String(256), nullable=False),
    Column("cseq", Integer, nullable=False),
    Column("transport", String(8), nullable=False),
    Column("source_host", String(64), nullable=False),
    Column("source_port", Integer, nullable=False),
    Column("nat", Boolean, nullable=False, default=False),
    Column("instance", String(256)),
    Column("reg_id", Integer),
    Column("q", String(8)),
    Column("user_agent", String(256), nullable=False, default=""),
    Index("ix_registrations_aor", "account", "extension"),
    Index("ix_registrations_expires", "expires_at"),
)
