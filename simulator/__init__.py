"""A stateful fake Texter: the API the worker writes to and the webhooks Texter would send.

Shipped with the package so the demo, the tests and the benchmarks run with no Texter account.
"""
