"""``client.chatflows``: create, read, update and delete chatflows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._convert import structure
from ..models._chatflows import Chatflow
from ._base import Resource, path_id


__all__ = ["Chatflows"]

_JSON_STRING_FIELDS = {
    "flow_data": "flowData",
    "chatbot_config": "chatbotConfig",
    "api_config": "apiConfig",
    "analytic": "analytic",
    "speech_to_text": "speechToText",
    "text_to_speech": "textToSpeech",
    "follow_up_prompts": "followUpPrompts",
}
_PLAIN_FIELDS = {
    "name": "name",
    "type": "type",
    "deployed": "deployed",
    "is_public": "isPublic",
    "apikeyid": "apikeyid",
    "category": "category",
}


def chatflow_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The wire body of a create/update call; JSON columns are encoded as strings."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _JSON_STRING_FIELDS:
            body[_JSON_STRING_FIELDS[name]] = (
                value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            )
        elif name in _PLAIN_FIELDS:
            body[_PLAIN_FIELDS[name]] = value
        else:
            raise TypeError(f"unknown chatflow field {name!r}")
    return body


class Chatflows(Resource):
    """Chatflows: ``/api/v1/chatflows``."""

    __slots__ = ()

    async def create(
        self,
        *,
        name: str,
        flow_data: Mapping[str, Any] | str,
        type: str = "CHATFLOW",
        **fields: Any,
    ) -> Chatflow:
        """
        Create a chatflow.

        Args:
            name: Its name.
            flow_data: The graph (``{"nodes": [...], "edges": [...]}``), as a mapping.
            type: ``CHATFLOW`` (default), ``AGENTFLOW``, ``MULTIAGENT`` or ``ASSISTANT``.
            **fields: Other columns: ``deployed``, ``is_public``, ``apikeyid``,
                ``chatbot_config``, ``api_config``, ``category``, ...
        """
        body = chatflow_body({"name": name, "flow_data": flow_data, "type": type, **fields})
        data = await self._request("POST", "/api/v1/chatflows", json_body=body)
        return structure(data, Chatflow)

    async def get(self, chatflow_id: str) -> Chatflow:
        """Read one chatflow."""
        data = await self._request("GET", f"/api/v1/chatflows/{path_id(chatflow_id)}")
        return structure(data, Chatflow)

    async def list(self, *, type: str | None = None) -> list[Chatflow]:
        """List the chatflows (newest first); *type* filters by flow type."""
        data = await self._request("GET", "/api/v1/chatflows", params={"type": type})
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        return structure(data, list[Chatflow])

    async def update(self, chatflow_id: str, **fields: Any) -> Chatflow:
        """Change some columns of a chatflow (same names as `create`)."""
        body = chatflow_body(fields)
        data = await self._request(
            "PUT", f"/api/v1/chatflows/{path_id(chatflow_id)}", json_body=body
        )
        return structure(data, Chatflow)

    async def delete(self, chatflow_id: str) -> None:
        """Delete a chatflow with its messages, feedback and files."""
        await self._request("DELETE", f"/api/v1/chatflows/{path_id(chatflow_id)}", expect="any")
