"""storage: where everything is kept, and how work is claimed.

Owns the database engine and its transactions (`engine`: SQLite by default, PostgreSQL
for several replicas), the column types (`types`), every table (`tables_core`: places,
status history, pending measures, data files, events; `tables_watch`; `tables_alerts`;
`tables_service`; `tables_review`: the review loop; `tables_web`: rate-limit counters), the
Alembic migrations
(`migrations/`), leases for claiming due rows (`lease`), group commit for many writers
(`writer`) and database health (`health`).

May import: the root modules (`settings`, `errors`, `timeutil`, ...) only. Knows nothing
of what the rows mean; every other layer imports it.
"""
