"""``client.api_keys``: the workspace's API keys."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Unpack

from .._exceptions import AuthenticationError
from ..models._api_keys import ApiKey
from ..models._common import DeleteResult
from ._base import Endpoint, RequestOptions, Resource


__all__ = ["ApiKeys"]

_LIST = Endpoint("GET", "/api/v1/apikey", answer=builtins.list[ApiKey])
_CREATE = Endpoint("POST", "/api/v1/apikey", answer=builtins.list[ApiKey])
_UPDATE = Endpoint("PUT", "/api/v1/apikey/{api_key_id}", answer=builtins.list[ApiKey])
_DELETE = Endpoint("DELETE", "/api/v1/apikey/{api_key_id}", expect="any")
_VERIFY = Endpoint("GET", "/api/v1/verify/apikey/{api_key}", expect="any", secret={"api_key"})


class ApiKeys(Resource):
    """API keys: ``/api/v1/apikey``."""

    __slots__ = ()

    async def list(self, **options: Unpack[RequestOptions]) -> builtins.list[ApiKey]:
        """List the keys of the workspace (most recently updated first), keys included."""
        return await self._call(_LIST, options=options)  # type: ignore[no-any-return]

    async def create(
        self, *, key_name: str, permissions: Iterable[str], **options: Unpack[RequestOptions]
    ) -> ApiKey:
        """
        Create an API key.

        The server answers with the list of all keys; this returns the new one (the most
        recent key of that name).

        Args:
            key_name: Its name.
            permissions: Non-empty, e.g. ``["chatflows:view", "chatflows:create"]``; a key
                cannot carry ``workspace:`` or ``admin:`` permissions.
        """
        perms = [permissions] if isinstance(permissions, str) else list(permissions)
        if not perms:
            raise ValueError("permissions must not be empty")
        keys = await self._call(
            _CREATE, json_body={"keyName": key_name, "permissions": perms}, options=options
        )
        return _pick(keys, key_name)

    async def update(
        self,
        api_key_id: str,
        *,
        key_name: str,
        permissions: Iterable[str],
        **options: Unpack[RequestOptions],
    ) -> ApiKey:
        """Rename a key and replace its permissions (both are required by the server)."""
        perms = [permissions] if isinstance(permissions, str) else list(permissions)
        if not perms:
            raise ValueError("permissions must not be empty")
        keys: builtins.list[ApiKey] = await self._call(
            _UPDATE,
            {"api_key_id": api_key_id},
            json_body={"keyName": key_name, "permissions": perms},
            options=options,
        )
        for key in keys:
            if key.id == api_key_id:
                return key
        return _pick(keys, key_name)

    async def delete(self, api_key_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a key."""
        return await self._delete(_DELETE, {"api_key_id": api_key_id}, options=options)

    async def verify(self, api_key: str, **options: Unpack[RequestOptions]) -> bool:
        """
        Whether *api_key* is a valid key of this server (``GET /verify/apikey/{key}``).

        The key travels in the URL path (the server's design); this client keeps it out of
        its errors and logs.
        """
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        try:
            data = await self._call(_VERIFY, {"api_key": api_key}, options=options)
        except AuthenticationError:
            return False
        return bool(data == "OK")


def _pick(keys: builtins.list[ApiKey], key_name: str) -> ApiKey:
    named = [key for key in keys if key.key_name == key_name]
    if not named:
        raise LookupError(f"the server's answer holds no key named {key_name!r}")
    # The server sorts by updatedDate, newest first; be explicit in case it stops doing so.
    return max(named, key=lambda key: key.updated_date or "")
