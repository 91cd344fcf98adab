"""
The ``flowise_async`` logger and its environment switch, ``FLOWISE_ASYNC_LOG``.

The library logs to the standard :mod:`logging` logger named ``flowise_async`` and adds no
handler of its own, unless ``FLOWISE_ASYNC_LOG`` is ``debug`` or ``info``: then a client
created afterwards attaches one handler writing to stderr at that level (once per process).

What is logged: every response (``DEBUG``: method, URL, status, time to the headers),
every retry and every abort of a run left early (``INFO``). URLs are shown without
credentials; the API key never appears.
"""

from __future__ import annotations

import logging
import os
import warnings


__all__ = ["ENV_VARIABLE", "logger", "setup_logging"]

logger = logging.getLogger("flowise_async")

#: The environment variable that switches the library's own log output on.
ENV_VARIABLE = "FLOWISE_ASYNC_LOG"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler ``FLOWISE_ASYNC_LOG`` attaches (recognised so it is added once)."""


def setup_logging(value: str | None = None) -> None:
    """
    Apply ``FLOWISE_ASYNC_LOG`` (or *value*): ``debug`` or ``info`` sets the logger's level
    and attaches a stderr handler once; unset or empty leaves logging to the application.

    Warns (`RuntimeWarning`) for another value, instead of ignoring a typo silently.
    """
    raw = os.environ.get(ENV_VARIABLE, "") if value is None else value
    name = raw.strip().lower()
    if not name:
        return
    level = _LEVELS.get(name)
    if level is None:
        warnings.warn(
            f"{ENV_VARIABLE}={raw!r} is not one of 'debug', 'info': logging left as it is",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    handler.setLevel(level)
