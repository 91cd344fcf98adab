"""``client.credentials``: secrets used by nodes."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Unpack

from ..models._common import DeleteResult
from ..models._credentials import Credential
from ._base import RequestOptions, Resource, path_id, structure


__all__ = ["Credentials"]

_PATH = "/api/v1/credentials"


class Credentials(Resource):
    """Credentials: ``/api/v1/credentials``."""

    __slots__ = ()

    async def list(
        self, *, credential_name: str | None = None, **options: Unpack[RequestOptions]
    ) -> builtins.list[Credential]:
        """List the credentials (without their data); *credential_name* filters by kind."""
        data = await self._request(
            "GET", _PATH, params={"credentialName": credential_name}, options=options
        )
        return structure(data, builtins.list[Credential])

    async def get(self, credential_id: str, **options: Unpack[RequestOptions]) -> Credential:
        """
        Read one credential with its data (*plain_data*; the server may redact password
        fields).

        Raises:
            NotFoundError: No such credential.
        """
        data = await self._request("GET", f"{_PATH}/{path_id(credential_id)}", options=options)
        return structure(data, Credential)

    async def create(
        self,
        *,
        name: str,
        credential_name: str,
        plain_data: Mapping[str, Any],
        **options: Unpack[RequestOptions],
    ) -> Credential:
        """
        Store a credential.

        Args:
            name: Its display name.
            credential_name: The kind, e.g. ``"openAIApi"``.
            plain_data: The values, e.g. ``{"openAIApiKey": "sk-..."}``; the server stores
                them encrypted.
        """
        body = {"name": name, "credentialName": credential_name, "plainDataObj": dict(plain_data)}
        data = await self._request("POST", _PATH, json_body=body, options=options)
        return structure(data, Credential)

    async def update(
        self,
        credential_id: str,
        *,
        name: str | None = None,
        credential_name: str | None = None,
        plain_data: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Credential:
        """Change a credential; given *plain_data* keys replace the stored ones."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if credential_name is not None:
            body["credentialName"] = credential_name
        if plain_data is not None:
            body["plainDataObj"] = dict(plain_data)
        data = await self._request(
            "PUT", f"{_PATH}/{path_id(credential_id)}", json_body=body, options=options
        )
        return structure(data, Credential)

    async def delete(self, credential_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a credential."""
        return await self._delete(f"{_PATH}/{path_id(credential_id)}", options=options)
