"""Alembic environment: runs on the connection the Store hands over (see signaling/migrate.py)."""

from __future__ import annotations

from alembic import context

from signaling.migrate import target_metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=target_metadata(), render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
