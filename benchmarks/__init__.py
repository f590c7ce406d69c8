"""wio's benchmarks: ``python -m benchmarks [--quick]``.

Every figure is a median over repeated runs, next to the ratio against a
baseline measured in the same run on the same machine and server: DBOS
Transact, the raw database limit, or wio itself at another size. Results go
to benchmarks/results.json and docs/performance.md.
"""
