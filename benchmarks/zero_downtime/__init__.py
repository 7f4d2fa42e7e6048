"""The zero-downtime benchmark: this project's revisions against their naive twins.

Each history (the project's safe revisions, and ``benchmarks/naive/versions``
with what ``alembic revision --autogenerate`` would have written) is applied one
revision at a time to a freshly loaded scratch database while writer and reader
clients keep working, and every revision is judged by how long it made those
clients wait. Modules, by job:

- ``scratch``: the benchmark's own databases on the configured server;
- ``load``: the data, generated server-side, identical for both histories;
- ``workload``: the concurrent clients and the lock monitor;
- ``worker``: applies and times revisions in a child process running env.py;
- ``history``/``runner``: the two histories and one run of each;
- ``metrics``/``schema``/``report``/``chart``: figures, fairness check, output;
- ``cli``: the command line.
"""
