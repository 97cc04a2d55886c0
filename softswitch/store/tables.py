"""SQLAlchemy table definitions (the schema Alembic migrations create)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

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
    Column("path", Text),  # RFC 3327 Path URIs, one per line, first hop first
    Index("ix_registrations_aor", "account", "extension"),
    Index("ix_registrations_expires", "expires_at"),
)

# Call history (one row per call; records.py ``CallRow.as_row``).
calls = Table(
    "calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("caller", String(64), nullable=False),
    Column("callee", String(64), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("hotline", String(32)),
    Column("started", Float, nullable=False),
    Column("answered", Float),
    Column("ended", Float),
    Column("duration", Float, nullable=False),
    Column("billed_seconds", Integer, nullable=False),
    Column("disposition", String(16), nullable=False),
    Column("hangup_by", String(16), nullable=False),
    Column("cause", String(256), nullable=False),
    Column("caller_device", String(256), nullable=False),
    Column("callee_device", String(256), nullable=False),
    Column("answered_by", String(64)),
    Column("park_slot", String(8)),
    Column("parked_by", String(64)),
    Column("parked_at", Float),
    Column("retrieved_by", String(64)),
    Column("retrieved_at", Float),
    Column("path", String(512)),
    Column("parties", Text),  # JSON: who was on the call, in order (records.py ``parties_json``); NULL: none
    Column("caller_person", String(64)),
    Column("callee_person", String(64)),
    Column("recording_path", String(512)),  # NULL: not recorded
    Column("recording_seconds", Float),
    Column("recording_bytes", Integer),
    Column("recording_sha256", String(64)),
    Column("recording_deleted", Float),  # when retention deleted the file (the row stays)
    *[Column(f"{leg}_{name}", kind, nullable=False) for leg in ("a", "b") for name, kind in (
        ("packets_in", Integer), ("packets_out", Integer), ("lost", Integer), ("jitter_ms", Float))],
    Index("ix_calls_account_started", "account", "started"),
    Index("ix_calls_started", "started"),
    Index("ix_calls_caller_person", "caller_person"),
    Index("ix_calls_callee_person", "callee_person"),
)

# Occupied park slots (records.py ``ParkedRow``), one row per slot, written by the switch process
# (``node``) that holds the call; a row whose ``expires_at`` is long past belongs to a process that
# died and no longer counts.
parked = Table(
    "parked",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("call", String(64), nullable=False),
    Column("parked_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("parker", String(64), nullable=False),
    Column("party", String(256), nullable=False),
    Column("node", String(128), nullable=False),
)

# What operators changed (records.py ``AuditRow``), appended and never updated.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("person", String(64)),
    Column("before", Text),
    Column("after", Text),
    Column("version", String(32), nullable=False),
    Index("ix_audit_account_at", "account", "at"),
    Index("ix_audit_at", "at"),
)

# Voicemail messages (records.py ``MessageRow``), one row per message while it is kept.
messages = Table(
    "messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("mailbox", String(32), nullable=False),
    Column("person", String(64)),
    Column("caller", String(128), nullable=False),
    Column("received", Float, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("path", String(512), nullable=False),
    Column("heard", Float),  # NULL: new
    Index("ix_messages_mailbox", "account", "mailbox", "received"),
)

# Cluster mode (several switch processes on one PostgreSQL store): one row per node, its heartbeat
# in ``seen_at``; a node silent for the configured time is dead, and its park slots are released.
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("address", String(128), nullable=False),  # host:port where the other nodes reach it over SIP
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("draining", Boolean, nullable=False, default=False),
)

# Values every node must share: the digest nonce secret (a challenge from one node is answered at
# another), written once by whichever node starts first.
cluster_values = Table(
    "cluster_values",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# What routing remembers between calls, shared by the nodes (routing.py ``HuntMemory``): who
# answered a group last (rrmemory), when an extension's last call ended (leastrecent), whose turn it
# is among outbound numbers.
hunt_memory = Table(
    "hunt_memory",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # answered | idle | rotation
    Column("name", String(128), primary_key=True),  # the group, or the extension
    Column("value", String(128), nullable=False),
)

# Sources banned by any node (guard.py), until a time.
bans = Table(
    "bans",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("until", Float, nullable=False),
    Column("why", String(256), nullable=False),
)
