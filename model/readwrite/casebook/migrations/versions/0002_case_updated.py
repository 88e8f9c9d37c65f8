"""Each case keeps the time of its last entry and its number of entries, indexed, so that
listing the most recently updated cases reads an index instead of grouping every entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("updated", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("entries", sa.Integer, nullable=False, server_default="0"))
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("created", sa.DateTime(timezone=True)),
        sa.column("updated", sa.DateTime(timezone=True)),
        sa.column("entries", sa.Integer),
    )
    entries = sa.table(
        "entries", sa.column("case_id", sa.Integer), sa.column("at", sa.DateTime(timezone=True))
    )
    last = (
        sa.select(sa.func.max(entries.c.at))
        .where(entries.c.case_id == cases.c.id)
        .scalar_subquery()
    )
    count = sa.select(sa.func.count()).where(entries.c.case_id == cases.c.id).scalar_subquery()
    op.execute(
        sa.update(cases).values(updated=sa.func.coalesce(last, cases.c.created), entries=count)
    )
    op.create_index("cases_by_update", "cases", ["updated", "id"])


def downgrade() -> None:
    op.drop_index("cases_by_update", "cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("entries")
        batch.drop_column("updated")
