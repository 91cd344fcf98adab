"""Chatflow values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._types import JSON, JSON_STRING


__all__ = ["Chatflow"]


def _json_field() -> Any:
    return attrs.field(default=None, metadata={JSON_STRING: True})


@attrs.frozen(kw_only=True)
class Chatflow:
    """
    A chatflow (or agent flow, assistant flow) stored on the server.

    The JSON columns the server keeps as strings (*flow_data*, *chatbot_config*,
    *api_config*, *analytic*, *speech_to_text*, *text_to_speech*, *follow_up_prompts*) are
    decoded Python values here.

    Attributes:
        id: The chatflow id (a UUID).
        name: Its name.
        type: ``CHATFLOW``, ``AGENTFLOW``, ``MULTIAGENT`` or ``ASSISTANT``.
        flow_data: The graph: ``{"nodes": [...], "edges": [...]}``.
        deployed: The UI's deployed flag.
        is_public: Whether the public chatbot page is enabled.
        apikeyid: The id of the API key a prediction must carry, if the flow is bound to one.
        category: The UI category text.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    name: str = ""
    type: str | None = None
    flow_data: JSON = _json_field()
    deployed: bool | None = None
    is_public: bool | None = None
    apikeyid: str | None = None
    chatbot_config: JSON = _json_field()
    api_config: JSON = _json_field()
    analytic: JSON = _json_field()
    speech_to_text: JSON = _json_field()
    text_to_speech: JSON = _json_field()
    follow_up_prompts: JSON = _json_field()
    category: str | None = None
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
