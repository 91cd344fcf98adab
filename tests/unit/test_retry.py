"""The retry policy (`_retry`) and the table of transport errors (`_transport_errors`)."""

from __future__ import annotations

import asyncio
import ssl
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from flowise_async import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    Retries,
    Timeouts,
)
from flowise_async._retry import (
    IDEMPOTENT_METHODS,
    Delivery,
    attempts_allowed,
    backoff,
    delivery_of,
    resend_safe,
    retry_delay,
    should_retry,
    single_attempt,
)
from flowise_async._transport_errors import FailureContext, pool_timeout, translate


POLICY = Retries(attempts=4, backoff=1.0, max_backoff=8.0, max_retry_after=30.0)


def status(code: int, retry_after: float | None = None) -> Any:
    cls = RateLimitError if code == 429 else InternalServerError
    return cls("x", status=code, method="POST", url="u", retry_after=retry_after)


def conn(*, sent: bool, transient: bool = True) -> APIConnectionError:
    return APIConnectionError("x", request_sent=sent, transient=transient)


# -- delivery --------------------------------------------------------------------------------


def test_delivery_of_a_connection_error() -> None:
    assert delivery_of(conn(sent=False)) is Delivery.UNSENT
    assert delivery_of(conn(sent=True)) is Delivery.SENT
    assert delivery_of(conn(sent=False, transient=False)) is Delivery.FINAL
    assert delivery_of(conn(sent=True, transient=False)) is Delivery.FINAL


def test_a_connection_error_is_sent_maybe_and_transient_by_default() -> None:
    """Unknown means 'may have reached the server': the safe assumption for predictions."""
    error = APIConnectionError("x")
    assert error.request_sent
    assert error.transient
    timeout = APITimeoutError("x", phase="pool", request_sent=False)
    assert (timeout.phase, timeout.request_sent, timeout.transient) == ("pool", False, True)


# -- whether ---------------------------------------------------------------------------------


def test_resend_safe() -> None:
    assert {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} == IDEMPOTENT_METHODS
    for method in IDEMPOTENT_METHODS:
        assert resend_safe(method, POLICY, opt_in=True)
        assert resend_safe(method, POLICY, opt_in=None)
    opt = Retries(retry_non_idempotent=True)
    assert not resend_safe("POST", POLICY, opt_in=None)
    assert resend_safe("POST", opt, opt_in=None)
    assert not resend_safe("POST", opt, opt_in=True)  # a prediction: never "safe to resend"
    assert not resend_safe("PATCH", opt, opt_in=False)


def test_should_retry_by_delivery_and_resend_safety() -> None:
    for safe in (False, True):
        assert should_retry(conn(sent=False), resend_safe=safe, policy=POLICY)
        assert not should_retry(conn(sent=True, transient=False), resend_safe=safe, policy=POLICY)
        assert not should_retry(conn(sent=False, transient=False), resend_safe=safe, policy=POLICY)
    assert should_retry(conn(sent=True), resend_safe=True, policy=POLICY)
    assert not should_retry(conn(sent=True), resend_safe=False, policy=POLICY)


def test_should_retry_statuses_and_other_errors() -> None:
    for code in (429, 502, 503, 504):
        assert should_retry(status(code), resend_safe=False, policy=POLICY)
    for code in (500, 400, 404):
        assert not should_retry(status(code), resend_safe=True, policy=POLICY)
    assert should_retry(status(500), resend_safe=False, policy=Retries(statuses=frozenset({500})))
    assert not should_retry(ValueError("x"), resend_safe=True, policy=POLICY)


def test_attempts_allowed_and_single_attempt() -> None:
    assert attempts_allowed(POLICY, retry=True) == 4
    assert attempts_allowed(POLICY, retry=False) == 1
    with single_attempt():
        assert attempts_allowed(POLICY, retry=True) == 1
        with single_attempt():
            pass
        assert attempts_allowed(POLICY, retry=True) == 1  # the inner block restores, not clears
    assert attempts_allowed(POLICY, retry=True) == 4


async def test_single_attempt_is_per_task() -> None:
    """Another task (another batch item, an unrelated call) keeps its retries."""
    seen: list[int] = []

    async def other() -> None:
        seen.append(attempts_allowed(POLICY, retry=True))

    task = asyncio.create_task(other())  # its context is copied now: before the block
    with single_attempt():
        await task
    assert seen == [4]


# -- how long --------------------------------------------------------------------------------


def test_backoff_doubles_caps_and_jitters() -> None:
    assert [backoff(POLICY, n, lambda: 1.0) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 8, 8]
    assert [backoff(POLICY, n, lambda: 0.0) for n in (1, 2, 3)] == [0.5, 1, 2]
    assert backoff(POLICY, 2, lambda: 0.5) == 1.5


def test_retry_delay_bounds_attempts() -> None:
    error = conn(sent=False)
    delays = [
        retry_delay(error, n, policy=POLICY, resend_safe=False, rand=lambda: 1.0)
        for n in (1, 2, 3, 4)
    ]
    assert delays == [1.0, 2.0, 4.0, None]  # attempts=4: three retries
    assert retry_delay(error, 2, policy=POLICY, resend_safe=False, attempts=2) is None
    assert (
        retry_delay(error, 1, policy=POLICY, resend_safe=False, attempts=2, rand=lambda: 1.0) == 1.0
    )
    assert retry_delay(conn(sent=True), 1, policy=POLICY, resend_safe=False) is None


def test_retry_delay_honours_retry_after_up_to_the_cap() -> None:
    def delay(error: Any) -> float | None:
        return retry_delay(error, 1, policy=POLICY, resend_safe=False, rand=lambda: 1.0)

    assert delay(status(429, retry_after=5.0)) == 5.0  # longer than the backoff: waited for
    assert delay(status(429, retry_after=0.2)) == 1.0  # shorter: the backoff wins
    assert delay(status(429, retry_after=30.0)) == 30.0  # the cap itself is honoured
    assert delay(status(429, retry_after=30.5)) is None  # above the cap: not waited for
    assert delay(status(503)) == 1.0


# -- the table of transport errors ------------------------------------------------------------


def ctx(*, streamed: bool = False) -> FailureContext:
    return FailureContext(
        method="POST",
        url="http://h/api/v1/prediction/f",
        base="http://h",
        timeouts=Timeouts(connect=3, headers=7),
        streamed=streamed,
        pool_size=5,
        redact=lambda text: text.replace("SECRET", "***"),
    )


KEY = SimpleNamespace(host="h", port=80, ssl=None)


def row(exc: BaseException, **kw: Any) -> tuple[type[Exception], bool, bool, bool, str]:
    failure = translate(exc, ctx(**kw))
    error = failure.error
    return (
        type(error),
        error.request_sent,
        error.transient,
        failure.cause is exc,
        getattr(error, "phase", ""),
    )


def test_table_connect_timeout() -> None:
    exc = aiohttp.ConnectionTimeoutError("x")
    assert row(exc) == (APITimeoutError, False, True, True, "connect")
    assert "within 3 s" in str(translate(exc, ctx()).error)


def test_table_headers_timeout_hint_fits_the_call() -> None:
    assert row(TimeoutError()) == (APITimeoutError, True, False, False, "headers")
    plain = str(translate(TimeoutError(), ctx()).error)
    streamed = str(translate(TimeoutError(), ctx(streamed=True)).error)
    assert "within 7 s" in plain
    assert "stream" not in plain
    assert "Timeouts(headers=...)" in plain
    assert "check the chatflow id" in streamed


def test_table_refused_and_tls() -> None:
    refused = aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused SECRET"))  # type: ignore[arg-type]
    assert row(refused) == (APIConnectionError, False, True, True, "")
    text = str(translate(refused, ctx()).error)
    assert "Is the server running" in text
    assert "SECRET" not in text
    cert = aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad"))  # type: ignore[arg-type]
    assert row(cert) == (APIConnectionError, False, False, True, "")
    assert "certificate is not trusted" in str(translate(cert, ctx()).error)
    wrong = aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("wrong version"))  # type: ignore[arg-type]
    assert row(wrong) == (APIConnectionError, False, False, True, "")
    assert "speaking TLS" in str(translate(wrong, ctx()).error)


def test_table_disconnect_redirects_and_the_rest() -> None:
    assert row(aiohttp.ServerDisconnectedError()) == (APIConnectionError, True, True, True, "")
    assert "closed the connection" in str(translate(aiohttp.ServerDisconnectedError(), ctx()).error)
    info = SimpleNamespace(real_url="http://h")
    redirects = aiohttp.TooManyRedirects(info, (), message="SECRET")  # type: ignore[arg-type]
    assert row(redirects) == (APIConnectionError, True, False, False, "")
    assert "too many redirects" in str(translate(redirects, ctx()).error)
    bad = aiohttp.ClientResponseError(info, (), message="bad SECRET header")  # type: ignore[arg-type]
    assert row(bad) == (APIConnectionError, True, False, False, "")
    text = str(translate(bad, ctx()).error)
    assert "bad *** header" in text
    assert "any proxy" in text
    reset = ConnectionResetError("reset SECRET")
    assert row(reset) == (APIConnectionError, True, True, True, "")
    text = str(translate(reset, ctx()).error)
    assert "reset ***" in text
    assert "connection broke" in text


def test_every_error_names_the_call() -> None:
    for exc in (TimeoutError(), aiohttp.ServerDisconnectedError(), OSError("x")):
        error = translate(exc, ctx()).error
        assert (error.method, error.url) == ("POST", "http://h/api/v1/prediction/f")
        assert "POST http://h/api/v1/prediction/f" in str(error)


def test_pool_timeout() -> None:
    error = pool_timeout(ctx(), 0.25)
    assert (error.phase, error.request_sent, error.transient) == ("pool", False, True)
    assert "within 0.25 s" in str(error)
    assert "all 5 connections" in str(error)
    assert "Limits(max_connections=...)" in str(error)
    assert (error.method, error.url) == ("POST", "http://h/api/v1/prediction/f")


_INFO = SimpleNamespace(real_url="http://h")
_CALL = "POST http://h/api/v1/prediction/f"

# Every row's whole message: the hints are the behaviour users read.
MESSAGES = [
    (
        aiohttp.ConnectionTimeoutError("x"),
        f"could not connect to http://h within 3 s for {_CALL}: is the server up and the base "
        "URL right? Raise Timeouts(connect=...) on a slow network",
    ),
    (
        TimeoutError(),
        f"no response headers within 7 s for {_CALL}. The server sends the headers only when it "
        "is done (a prediction answered in one piece: when the whole run is over): raise "
        "Timeouts(headers=...) for slow calls",
    ),
    (
        aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad SECRET")),  # type: ignore[arg-type]
        f"TLS with http://h failed for {_CALL}: ('bad ***',). the server's certificate is not "
        "trusted: pass ssl= an ssl.SSLContext that trusts its CA "
        "(ssl.create_default_context(cafile=...)), or ssl=False to skip verification (testing "
        "only)",
    ),
    (
        aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("wrong version SECRET")),  # type: ignore[arg-type]
        f"TLS with http://h failed for {_CALL}: ('wrong version ***',). is the server speaking "
        "TLS on that port (https:// vs http:// in the base URL)? For a private CA pass ssl= an "
        "ssl.SSLContext that trusts it",
    ),
    (
        aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused SECRET")),  # type: ignore[arg-type]
        f"cannot connect to http://h for {_CALL}: [Errno 111] refused ***. Is the server "
        "running, and are the base URL and port right?",
    ),
    (
        aiohttp.ServerDisconnectedError(),
        f"the server closed the connection before answering {_CALL}: check the server's log "
        "(it may have crashed or restarted) and retry",
    ),
    (
        aiohttp.TooManyRedirects(_INFO, (), message="SECRET"),  # type: ignore[arg-type]
        f"too many redirects for {_CALL}: check the base URL (use the address the server "
        "redirects to)",
    ),
    (
        aiohttp.ClientResponseError(_INFO, (), message="bad SECRET header"),  # type: ignore[arg-type]
        f"{_CALL} failed: ClientResponseError: bad *** header: check the base URL and any proxy",
    ),
    (
        ConnectionResetError("reset SECRET"),
        f"{_CALL} failed: ConnectionResetError: reset ***: the connection broke; check the "
        "network and the server, then retry",
    ),
]


@pytest.mark.parametrize(("exc", "message"), MESSAGES, ids=[type(e).__name__ for e, _ in MESSAGES])
def test_table_messages(exc: BaseException, message: str) -> None:
    assert str(translate(exc, ctx()).error) == message


def test_streamed_headers_timeout_and_pool_messages() -> None:
    assert str(translate(TimeoutError(), ctx(streamed=True)).error) == (
        f"no response headers within 7 s for {_CALL}. A Flowise server does not answer a "
        "streaming prediction at all when it fails before the stream starts (e.g. an unknown "
        "chatflow id): check the chatflow id; raise Timeouts(headers=...) if the flow takes "
        "long to start"
    )
    assert str(pool_timeout(ctx(), 0.25)) == (
        f"no free connection in the pool within 0.25 s for {_CALL}: all 5 connections are in "
        "use (open streams count until they are closed). Raise Limits(max_connections=...), "
        "run fewer calls at once, or raise Timeouts(pool=...)"
    )


def test_a_sent_request_is_retried_when_resending_is_safe() -> None:
    delay = retry_delay(conn(sent=True), 1, policy=POLICY, resend_safe=True, rand=lambda: 1.0)
    assert delay == 1.0


def test_messages_when_the_cause_says_nothing() -> None:
    """An empty socket error names its type; an empty response error shows the whole error."""
    refused = aiohttp.ClientConnectorError(KEY, ConnectionRefusedError())  # type: ignore[arg-type]
    assert f"{_CALL}: ClientConnectorError. Is the server" in str(translate(refused, ctx()).error)
    bad = aiohttp.ClientResponseError(_INFO, (), status=400, message="")  # type: ignore[arg-type]
    text = str(translate(bad, ctx()).error)
    assert f"{_CALL} failed: ClientResponseError: 400, message='', url='http://h':" in text
