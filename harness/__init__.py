"""
Test harness: installs, starts and drives a real Flowise server for the integration tests.

Not part of the distributed package. ``python -m harness.install [--version V | --all]
[--database postgres|sqlite]`` installs Flowise releases, ``python -m harness.postgres`` makes
sure PostgreSQL (which the test servers store their data in) is installed,
``python -m harness.serve --version V [--queue] [--database sqlite]`` keeps one running until
Ctrl-C, ``python -m harness.demo`` streams a prediction through the library against one on
SQLite.
"""
