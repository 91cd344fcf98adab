"""``client.credentials``: secrets used by nodes."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Unpack

from ..models._common import DeleteResult
from ..models._credentials import Credential
from ._base import Endpoint, RequestOptions, Resource


__all__ = ["Credentials"]

_LIST = Endpoint("GET", "/api/v1/credentials", answer=builtins.list[Credential])
_GET = Endpoint("GET", "/api/v1/credentials/{credential_id}", answer=Credential)
_CREATE = Endpoint("POST", "/api/v1/credentials", answer=Credential)
_UPDATE = Endpoint("PUT", "/api/v1/credentials/{credential_id}", answer=Credential)
_DELETE = Endpoint("DELETE", "/api/v1/credentials/{credential_id}", expect="any")


class Credentials(Resource):
    """Credentials: ``/api/v1/credentials``."""

    __slots__ = ()

    async def list(
        self, *, credential_name: str | None = None, **options: Unpack[RequestOptions]
    ) -> builtins.list[Credential]:
        """List the credentials (without their data); *credential_name* filters by kind."""
        return await self._call(  # type: ignore[no-any-return]
            _LIST, params={"credentialName": credential_name}, options=options
        )

    async def get(self, credential_id: str, **options: Unpack[RequestOptions]) -> Credential:
        """
        Read one credential with its data (*plain_data*; the server may redact password
        fields).

        Raises:
            NotFoundError: No such credential.
        """
        return await self._call(_GET, {"credential_id": credential_id}, options=options)  # type: ignore[no-any-return]

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
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

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
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE, {"credential_id": credential_id}, json_body=body, options=options
        )

    async def delete(self, credential_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a credential."""
        return await self._delete(_DELETE, {"credential_id": credential_id}, options=options)
