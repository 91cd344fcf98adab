"""
A public, pure, incremental Server-Sent Events decoder (WHATWG HTML conformant).

Example:
    >>> from flowise_async.sse import SSEDecoder
    >>> decoder = SSEDecoder()
    >>> decoder.feed(b"data: hel") + decoder.feed(b"lo\\n\\n")
    [ServerSentEvent(data='hello', event='message', id=None, retry=None)]
"""

from ._exceptions import SSEProtocolError
from ._sse import DEFAULT_MAX_EVENT_SIZE, LINE_ALLOWANCE, ServerSentEvent, SSEDecoder


__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "LINE_ALLOWANCE",
    "SSEDecoder",
    "SSEProtocolError",
    "ServerSentEvent",
]
