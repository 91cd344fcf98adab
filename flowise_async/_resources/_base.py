"""What every resource shares: access to the transport and the client's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from .._transport import Transport


if TYPE_CHECKING:
    from .._client import AsyncFlowise

__all__ = ["Resource", "path_id"]


def path_id(value: str, what: str = "id") -> str:
    """Check and percent-encode one path segment."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


class Resource:
    """Base of the API groups exposed on `AsyncFlowise`."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncFlowise) -> None:
        self._client = client

    @property
    def _transport(self) -> Transport:
        return self._client._live_transport()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        expect: Literal["json", "text", "any"] = "json",
        **kwargs: Any,
    ) -> Any:
        return await self._transport.request(method, path, expect=expect, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
