"""with_raw_response's typed lines: every method of every group has one, and they change no
behaviour (the same calls, the same results, the same refusals as the generic lookup)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from flowise_async import APIResponse, AsyncFlowise
from flowise_async._raw import RawChatflows, RawLoaders, RawResponses, _RawGroup, _Typed
from flowise_async._resources._base import Resource
from flowise_async.mock import MockRequest, MockResponse, MockTransport


BASE = "http://flowise.test"
FLOW = {"id": "f-1", "name": "Flow", "flowData": "{}", "deployed": False}


def _answer(request: MockRequest) -> MockResponse:
    if request.path == "/api/v1/chatflows/f-1":
        return MockResponse(200, json=FLOW)
    if request.path == "/api/v1/chatflows":
        return MockResponse(200, json=[FLOW, {**FLOW, "id": "f-2"}])
    return MockResponse(200, json={})


def _raw_names(raw_cls: type) -> set[str]:
    return {
        name
        for klass in raw_cls.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, _Typed)
    }


def _methods(group: Resource) -> tuple[set[str], dict[str, Resource]]:
    """The names with a raw answer (awaited methods and stream), and the sub-groups."""
    names: set[str] = set()
    subgroups: dict[str, Resource] = {}
    for name in dir(group):
        if name.startswith("_"):
            continue
        target = getattr(group, name)
        if isinstance(target, Resource):
            subgroups[name] = target
        elif name == "stream" or inspect.iscoroutinefunction(target):
            names.add(name)
    return names, subgroups


def test_every_group_and_method_has_a_typed_raw_line() -> None:
    """Type checkers see each group's methods with their own types: none is left to Any."""
    flowise = AsyncFlowise(BASE)
    raw = flowise.with_raw_response
    groups = {
        name: value
        for name in dir(flowise)
        if isinstance(value := getattr(flowise, name), Resource)
    }
    assert set(groups) <= _raw_names(RawResponses), "add a raw_group line to RawResponses"
    pending: list[tuple[str, Resource, Any]] = [
        (name, group, getattr(raw, name)) for name, group in groups.items()
    ]
    while pending:
        path, group, raw_group = pending.pop()
        assert type(raw_group) is not _RawGroup, f"{path}: no typed raw class"
        methods, subgroups = _methods(group)
        lines = _raw_names(type(raw_group))
        missing = sorted((methods | set(subgroups)) - lines)
        hint = ", ".join(f"{name} = raw({type(group).__name__}.{name})" for name in missing)
        assert not missing, f"{path}: add to {type(raw_group).__name__} in _raw.py: {hint}"
        assert lines <= methods | set(subgroups), f"{path}: lines for no method"
        pending.extend(
            (f"{path}.{name}", sub, getattr(raw_group, name)) for name, sub in subgroups.items()
        )


async def test_typed_lines_answer_as_before() -> None:
    """The typed lines call the group's method (of the view they come from) and wrap it."""
    mock = MockTransport(_answer)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        view = flowise.with_options(headers={"X-View": "1"})
        raw = view.with_raw_response
        assert isinstance(raw.chatflows, RawChatflows)
        assert isinstance(raw.document_store.loaders, RawLoaders)
        got = await raw.chatflows.get("f-1")
        listed = await raw.chatflows.list()
        plain = await flowise.chatflows.get("f-1")
    assert isinstance(got, APIResponse)
    assert got.data == plain
    assert (got.status, got.method, got.url) == (200, "GET", f"{BASE}/api/v1/chatflows/f-1")
    assert [c.id for c in listed.data] == ["f-1", "f-2"]
    assert all(request.headers["X-View"] == "1" for request in mock.requests[:2])


def test_refusals_are_unchanged() -> None:
    """batch/iter are refused with TypeError; other callables and unknown names are not raw."""
    raw = AsyncFlowise(BASE).with_raw_response
    with pytest.raises(TypeError, match="batch"):
        raw.predictions.batch  # noqa: B018 - the attribute access is the test
    with pytest.raises(TypeError, match="iter"):
        raw.chatflows.iter  # noqa: B018
    with pytest.raises(AttributeError, match="resume_stream"):
        raw.predictions.resume_stream  # noqa: B018
    with pytest.raises(AttributeError):
        raw.document_store.loaders.no_such_method  # noqa: B018
    with pytest.raises(AttributeError, match="use an API group"):
        raw.pool_stats  # noqa: B018
