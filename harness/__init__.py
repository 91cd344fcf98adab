"""
Test harness: installs, starts and drives a real Flowise server for the integration tests.

Not part of the distributed package. ``python -m harness.install`` installs Flowise,
``python -m harness.demo`` streams a prediction through the library against it.
"""
