"""The flowise_async logger and the FLOWISE_ASYNC_LOG switch."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from flowise_async import AsyncFlowise, Retries
from flowise_async._logs import ENV_VARIABLE, logger
from flowise_async.mock import MockRequest, MockResponse, MockTransport


BASE = "http://flowise.test"
KEY = "sk-logging-key-0123456789"


@pytest.fixture(autouse=True)
def clean_logger() -> Iterator[None]:
    """Each test starts and ends with the logger as the application left it."""
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _ours() -> list[logging.Handler]:
    return [h for h in logger.handlers if type(h).__name__ == "_Handler"]


async def test_debug_switch_logs_every_response_to_stderr_without_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FLOWISE_ASYNC_LOG=debug: one stderr handler (however many clients), a line per response."""
    monkeypatch.setenv(ENV_VARIABLE, "debug")

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, json={"text": f"echo {request.headers['Authorization']}"})

    async with AsyncFlowise(BASE, api_key=KEY, transport=MockTransport(handler)) as flowise:
        AsyncFlowise(BASE, transport=MockTransport(handler))
        await flowise.predictions.create("flow-1", "q")
    assert len(_ours()) == 1
    assert logger.level == logging.DEBUG
    err = capsys.readouterr().err
    assert "POST http://flowise.test/api/v1/prediction/flow-1 -> 200" in err
    assert "DEBUG flowise_async" in err
    assert KEY not in err


async def test_info_switch_logs_retries_but_not_each_response(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FLOWISE_ASYNC_LOG=info: retries are logged, plain responses are not."""
    monkeypatch.setenv(ENV_VARIABLE, "INFO")
    answers = [MockResponse(503, text="busy")]

    def handler(request: MockRequest) -> MockResponse:
        return answers.pop() if answers else MockResponse(200, text="pong")

    retries = Retries(attempts=2, backoff=0.001)
    async with AsyncFlowise(BASE, transport=MockTransport(handler), retries=retries) as flowise:
        await flowise.ping()
    err = capsys.readouterr().err
    assert "GET http://flowise.test/api/v1/ping: 503; retry 1" in err
    assert "-> 200" not in err


def test_an_unknown_value_warns_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in FLOWISE_ASYNC_LOG is a RuntimeWarning, not silently ignored."""
    monkeypatch.setenv(ENV_VARIABLE, "verbose")
    level = logger.level
    with pytest.warns(RuntimeWarning, match="FLOWISE_ASYNC_LOG='verbose'"):
        AsyncFlowise(BASE, transport=MockTransport(lambda r: MockResponse()))
    assert _ours() == []
    assert logger.level == level


def test_without_the_switch_the_library_adds_no_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, logging stays the application's business."""
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    AsyncFlowise(BASE, transport=MockTransport(lambda r: MockResponse()))
    assert _ours() == []
