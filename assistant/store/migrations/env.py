"""Alembic environment: runs against the engine the app opened, one
transaction per migration (SQLite DDL is transactional with our BEGIN hook)."""

from __future__ import annotations

from alembic import context

from assistant.store.tables import Base

config = context.config
engine = config.attributes.get("engine")

if engine is None:  # e.g. `alembic` invoked by hand with a URL
    from assistant.store.database import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        transactional_ddl=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
