"""The compatibility table of docs/servers.md is the library's feature table."""

from __future__ import annotations

import dataclasses

import pytest

from flowise_async import _features
from flowise_async._features import FEATURES, Feature
from harness import compat_table
from tests.integration.conftest import ALL_LINES, line_version


def test_the_page_holds_the_table_the_feature_table_gives() -> None:
    """Editing a row of FEATURES without `python -m harness.compat_table` fails here."""
    text = compat_table.PAGE.read_text(encoding="utf-8")
    assert compat_table.update(text) == text
    assert compat_table.main(["--check"]) == 0


def test_every_feature_has_a_row_with_its_release() -> None:
    table = compat_table.render()
    for feature in FEATURES:
        rows = [line for line in table.splitlines() if f"`{feature.name}`" in line]
        assert len(rows) == 1
        assert f"| {feature.added_in} " in rows[0]


def test_the_columns_are_the_lines_the_integration_suite_runs() -> None:
    assert set(compat_table.LINES) == {line_version(line) for line in ALL_LINES}


def test_cells_follow_the_release_and_the_kind_of_feature() -> None:
    routed = Feature("x", "3.0.0", ("/api/v1/x",))
    evented = Feature("y", "3.0.0")
    lookup = {**_features._BY_NAME, "x": routed, "y": evented}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_features, "_BY_NAME", lookup)
        assert compat_table.cell(routed, "2.2.8") == "typed error"
        assert compat_table.cell(evented, "2.2.8") == "never sent"
        assert compat_table.cell(routed, "3.0.0") == "yes"
        assert compat_table.cell(evented, "3.1.4") == "yes"


def test_a_changed_row_makes_the_page_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    text = compat_table.PAGE.read_text(encoding="utf-8")
    changed = tuple(
        dataclasses.replace(f, added_in="3.1.0") if f.name == "executions" else f for f in FEATURES
    )
    lookup = {f.name: f for f in changed}
    monkeypatch.setattr(compat_table, "FEATURES", changed)
    monkeypatch.setattr(_features, "_BY_NAME", lookup)
    new = compat_table.update(text)
    assert new != text
    row = next(line for line in new.splitlines() if "`executions`" in line)
    assert row.rstrip(" |").split("|")[-3:] == [" typed error ", " typed error ", " yes"]


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="compat-table"):
        compat_table.update("# no table here\n")
