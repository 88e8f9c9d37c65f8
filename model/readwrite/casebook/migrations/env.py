"""Alembic's entry point for the case book's migrations: run on the connection the case book
hands over (``config.attributes["connection"]``), never on a URL of its own."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
