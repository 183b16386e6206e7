"""The report engines: three ways to compute the same figures (docs/metrics.md).

- `sqlite_scan`: SQLite. Counts are SQL aggregates; SQLite has no percentile function, so the
  duration values are fetched and means and medians taken in Python.
- `postgres_scan`: PostgreSQL, reading the deploys, commits and incidents themselves.
- `postgres_rollup`: PostgreSQL, reading deploy counts, lead-time medians and (without a service,
  team or severity filter) the incident figures off the per-month and per-week rollups
  (reports.models, reports.rollup_sql; kept by triggers).

reports.selectors picks the engine and assembles the report; each engine function takes the
report's `Span` and `Filters` (reports.engines.scope) as keyword arguments and returns a result
from reports.engines.results. The engines agree to the bit (tests/reports/test_rollup.py,
tests/reports/test_incident_rollup.py, tests/reports/test_properties.py).
"""
