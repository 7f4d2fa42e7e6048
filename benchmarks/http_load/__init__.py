"""The service under load: requests per second and tail latency over real HTTP.

``python -m benchmarks.http_load`` creates a scratch database on the configured
server, migrates it, seeds users, starts ``main.py`` on a loopback port (directly
on PostgreSQL, or through a PgBouncer in transaction mode with
``--through-pgbouncer``), and has concurrent keep-alive clients read, list,
create and update users for a bounded time. It prints requests per second and
p50/p95/p99/max latency per kind of request, and drops the scratch database.
Loopback only, bounded in time and in requests, as any load test here must be.
"""
