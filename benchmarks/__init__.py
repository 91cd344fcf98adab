"""
Benchmarks of ``flowise_async`` against other ways of reading a Flowise event stream.

Run ``nox -s bench`` (or ``python -m benchmarks --help`` in an environment that has the peers
installed). The suite prints figures; it never fails on time. See ``docs/performance.md``.
"""
