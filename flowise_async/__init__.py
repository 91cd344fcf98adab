"""
flowise_async: an async-first, typed, streaming client for the Flowise API.

Example::

    from flowise_async import AsyncFlowise

    async with AsyncFlowise("http://localhost:3000", api_key=KEY) as flowise:
        async with flowise.predictions.stream(CHATFLOW_ID, "What is Flowise?") as stream:
            async for text in stream.text_stream():
                print(text, end="", flush=True)
"""

from __future__ import annotations

from typing import Any

from ._batch import Batch, BatchProgress, BatchResult, PredictionRequest, ResultIterator
from ._chat import ChatSession
from ._client import AsyncFlowise
from ._config import Limits, Retries, Timeouts
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatBusyError,
    ClientStateError,
    EventDecodeError,
    FeatureUnavailableError,
    FlowiseError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    NotWaitingError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerEventError,
    SSEProtocolError,
    StreamError,
    UnexpectedContentError,
)
from ._hooks import CallHooks, CallInfo, Hooks, SentRequest, add_hooks, remove_hooks
from ._raw import APIResponse, RawResponses, RawStream
from ._resources._base import RequestOptions
from ._stream import EventStream
from ._transport import ResponseMeta
from .models import HumanInput, Message, Prediction, RunStatus, Upload, Usage
from .sync import SyncFlowise, SyncStream


__all__ = [
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AsyncFlowise",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchProgress",
    "BatchResult",
    "CallHooks",
    "CallInfo",
    "ChatBusyError",
    "ChatSession",
    "ClientStateError",
    "EventDecodeError",
    "EventStream",
    "FeatureUnavailableError",
    "FlowiseError",
    "Hooks",
    "HumanInput",
    "IncompleteStreamError",
    "InternalServerError",
    "Limits",
    "Message",
    "NotFoundError",
    "NotWaitingError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Prediction",
    "PredictionRequest",
    "RateLimitError",
    "RawResponses",
    "RawStream",
    "RequestOptions",
    "ResponseMeta",
    "ResultIterator",
    "Retries",
    "RunStatus",
    "SSEProtocolError",
    "SentRequest",
    "ServerEventError",
    "StreamError",
    "SyncFlowise",
    "SyncStream",
    "Timeouts",
    "UnexpectedContentError",
    "Upload",
    "Usage",
    "add_hooks",
    "remove_hooks",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("flowise-async")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
