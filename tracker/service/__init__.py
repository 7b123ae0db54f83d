"""service: running the tracker as a daemon, one or several replicas.

Owns the daemon (`daemon`) and its settings (`daemon_config`), due checks
(`due_checks`), singleton periodic jobs (`jobs`), per-replica work (`replica`), clock-jump
repair (`clockwatch`), metrics and the operations endpoints (`metrics`, `opsweb`), the
installation check (`doctor`) and process tuning (`runtime`).

May import: `web`, `export`, `watch`, `law`, `alerts`, `storage` and the root modules;
only `cli` imports it.
"""
