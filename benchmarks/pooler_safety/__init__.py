"""Migration attempts through a real PgBouncer in transaction mode under shared load.

``python -m benchmarks.pooler_safety --attempts 200`` prints how many attempts
got through, how many were refused or stopped, and whether any advisory lock or
timeout of theirs was left where other clients of the pool could meet it.
"""
