"""
Test harness: installs, starts and drives a real Flowise server for the integration tests.

Not part of the distributed package. ``python -m harness.install [--version V | --all]``
installs Flowise releases, ``python -m harness.serve --version V [--queue]`` keeps one running
until Ctrl-C, ``python -m harness.demo`` streams a prediction through the library against it.
"""
