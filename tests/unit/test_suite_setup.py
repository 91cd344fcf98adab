"""How the test suite itself is set up (tests/conftest.py)."""

from __future__ import annotations

import gc


def test_what_the_collection_made_is_frozen_for_the_garbage_collector() -> None:
    """
    The imported libraries' objects are out of the collector's reach, so the many tests that
    call ``gc.collect()`` to make an unclosed response warn at once pay for their own objects
    only; what a test makes is still collected.
    """
    assert gc.get_freeze_count() > 10_000

    class Cycle:
        pass

    made = Cycle()
    made.me = made  # type: ignore[attr-defined]
    del made
    assert any(isinstance(obj, Cycle) for obj in gc.get_objects())
    assert gc.collect() >= 1
    assert not any(isinstance(obj, Cycle) for obj in gc.get_objects())
