"""
The library's one redaction: secrets out of every text meant for humans.

Every message, exception attribute, log record and span attribute built from a URL, a header
or a body goes through `redact` (a `Redactor` binds the secrets of one call): the API key, a
key looked up in a path (``chatflows.list_for_key``), a per-call key. A secret is removed as
it is and percent-encoded (as it travels in a path or a query).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote


__all__ = ["MASK", "Redactor", "redact", "redact_value"]

#: What replaces a secret.
MASK = "***"


@lru_cache(maxsize=64)
def _forms(secret: str) -> tuple[str, ...]:
    """The forms of *secret* a text may hold: as it is, and percent-encoded."""
    encoded = quote(secret, safe="")
    return (secret,) if encoded == secret else (secret, encoded)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """*text* with every one of *secrets* (as it is, or percent-encoded) replaced by ``***``."""
    for secret in secrets:
        if secret:
            for form in _forms(secret):
                if form in text:
                    text = text.replace(form, MASK)
    return text


def redact_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """A decoded JSON value with every string in it (keys too) redacted."""
    found = tuple(secrets)
    if isinstance(value, str):
        return redact(value, found)
    if isinstance(value, dict):
        return {redact(str(k), found): redact_value(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, found) for v in value]
    return value


class Redactor:
    """`redact` bound to the secrets of one call: ``redactor(text)``."""

    __slots__ = ("secrets",)

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = tuple(s for s in secrets if s)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)

    def value(self, value: Any) -> Any:
        """`redact_value` with these secrets."""
        return redact_value(value, self.secrets)

    def cut(self, text: str, size: int) -> str:
        """*text* redacted, then cut to *size* characters (so no secret is cut in half)."""
        return redact(text, self.secrets)[:size]

    def __repr__(self) -> str:
        return f"<Redactor of {len(self.secrets)} secret(s)>"
