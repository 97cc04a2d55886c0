"""Alembic environment: migrations run on the connection handed over by ``store.sql.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from softswitch.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # run from the alembic command line with a sync URL
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite:///softswitch.db")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
