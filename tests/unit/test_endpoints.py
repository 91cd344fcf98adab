"""
Endpoint declarations: adding an endpoint is one declaration and one method, and telemetry,
logs, the feature check and redaction all read it (the recipe of docs/architecture.md).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Unpack

import pytest

from flowise_async import (
    AsyncFlowise,
    FeatureUnavailableError,
    InternalServerError,
    NotFoundError,
    UnexpectedContentError,
)
from flowise_async._endpoint import Endpoint
from flowise_async._resources._base import RequestOptions, Resource
from flowise_async.mock import MockRequest, MockResponse, MockTransport


BASE = "http://flowise.test:3000"
CANARY = "sk-CANARY-7d1e5a"  # a key looked up through the path: it must never show


# -- the recipe: one declaration, one method ----------------------------------------------

_WIDGET_KEYS = Endpoint(
    "GET",
    "/api/v1/widgets/{widget_id}/keys/{key}",
    answer=list[str],
    feature="executions",
    secret={"key"},
)


class Widgets(Resource):
    """A resource this package does not have: what a contributor would add."""

    __slots__ = ()

    async def keys(self, widget_id: str, key: str, **options: Unpack[RequestOptions]) -> list[str]:
        return await self._call(  # type: ignore[no-any-return]
            _WIDGET_KEYS, {"widget_id": widget_id, "key": key}, options=options
        )


def widgets(flowise: AsyncFlowise) -> Widgets:
    return Widgets(flowise.chatflows._ctx)


def server(answer: MockResponse) -> MockTransport:
    def handler(request: MockRequest) -> MockResponse:
        if request.path == "/api/v1/version":
            return MockResponse(200, json={"version": "2.2.8"})
        return answer

    return MockTransport(handler)


def everything(error: BaseException) -> str:
    """str, repr and every attribute of *error* and of its chain."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), json.dumps(vars(seen), default=repr)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


async def test_a_new_endpoint_answers_its_declared_type() -> None:
    transport = server(MockResponse(200, json=["a", "b"]))
    async with AsyncFlowise(BASE, transport=transport) as flowise:
        assert await widgets(flowise).keys("w1", CANARY) == ["a", "b"]
    (request,) = [r for r in transport.requests if r.path != "/api/v1/version"]
    assert request.method == "GET"
    assert request.path == f"/api/v1/widgets/w1/keys/{CANARY}"


async def test_its_path_parameters_are_checked() -> None:
    async with AsyncFlowise(BASE, transport=server(MockResponse(200, json=[]))) as flowise:
        with pytest.raises(ValueError, match="widget_id must be a non-empty string"):
            await widgets(flowise).keys("", "k")


async def test_its_feature_is_checked_on_an_older_server() -> None:
    """A 404 from a server older than the declared feature: FeatureUnavailableError."""
    transport = server(MockResponse(404, json={"message": "Cannot GET"}))
    async with AsyncFlowise(BASE, transport=transport) as flowise:
        with pytest.raises(FeatureUnavailableError) as info:
            await widgets(flowise).keys("w1", CANARY)
    assert (info.value.feature, info.value.server_version) == ("executions", "2.2.8")
    assert CANARY not in everything(info.value)


async def test_no_feature_no_version_lookup() -> None:
    """An endpoint without a feature is a plain 404: the version is never asked."""
    plain = Endpoint("GET", "/api/v1/widgets/{widget_id}")
    transport = server(MockResponse(404, json={"message": "Widget w1 not found"}))
    async with AsyncFlowise(BASE, transport=transport) as flowise:
        with pytest.raises(NotFoundError):
            await widgets(flowise)._call(plain, {"widget_id": "w1"})
    assert [r.path for r in transport.requests] == ["/api/v1/widgets/w1"]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(
            MockResponse(500, json={"message": f"no key {CANARY}"}),
            InternalServerError,
            id="status",
        ),
        pytest.param(
            MockResponse(200, json={"ok": CANARY}), UnexpectedContentError, id="wrong-shape"
        ),
        pytest.param(
            MockResponse(200, text=f"<html>{CANARY}</html>", content_type="text/html"),
            FeatureUnavailableError,
            id="web-page",
        ),
    ],
)
async def test_a_secret_parameter_never_shows(
    answer: MockResponse, error: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    """The declared secret is redacted from errors and log lines, as the API key is."""
    caplog.set_level(logging.DEBUG, logger="flowise_async")
    async with AsyncFlowise(BASE, transport=server(answer)) as flowise:
        with pytest.raises(error) as info:
            await widgets(flowise).keys("w1", CANARY)
    assert CANARY not in everything(info.value)
    assert caplog.records
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in json.dumps(vars(record), default=repr)


async def test_log_records_carry_the_declared_template(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flowise_async")
    async with AsyncFlowise(BASE, transport=server(MockResponse(200, json=[]))) as flowise:
        await widgets(flowise).keys("w1", CANARY)
    (record,) = [r for r in caplog.records if "-> 200" in r.getMessage()]
    assert record.url_template == "/api/v1/widgets/{widget_id}/keys/{key}"  # type: ignore[attr-defined]
    assert "/api/v1/widgets/w1/keys/***" in record.getMessage()


async def test_a_span_is_named_by_the_declared_template() -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from flowise_async.otel import FlowiseAsyncInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    FlowiseAsyncInstrumentor().instrument(tracer_provider=provider)
    try:
        async with AsyncFlowise(BASE, transport=server(MockResponse(200, json=[]))) as flowise:
            await widgets(flowise).keys("w1", CANARY)
            await flowise.request("GET", "/api/v1/nodes/n1")
    finally:
        FlowiseAsyncInstrumentor().uninstrument()
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert names == ["GET /api/v1/widgets/{widget_id}/keys/{key}", "GET"]
    declared, raw = spans
    assert declared.attributes is not None
    assert declared.attributes["url.template"] == "/api/v1/widgets/{widget_id}/keys/{key}"
    assert raw.attributes is not None
    assert "url.template" not in raw.attributes  # a route without a declaration: no guess
    dumped = json.dumps([[s.name, dict(s.attributes or {})] for s in spans])
    assert CANARY not in dumped


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature": "teleportation"}, "unknown feature"),
        ({"secret": {"nope"}}, "secret names no path parameter"),
        ({"method": "FETCH"}, "method must be one of"),
    ],
)
def test_a_bad_declaration_fails_at_import(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"method": "GET", "route": "/api/v1/widgets/{widget_id}", **kwargs}
    with pytest.raises(ValueError, match=message):
        Endpoint(**fields)


def test_every_resource_method_calls_a_declared_endpoint() -> None:
    """No resource builds a path by hand: the transport gets every template."""
    from pathlib import Path

    import flowise_async

    root = Path(flowise_async.__file__).parent / "_resources"
    for path in root.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "._request(" not in text, path.name
        assert 'f"/api' not in text, path.name
