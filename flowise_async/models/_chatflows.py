"""Chatflow values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._types import JSON, JSON_STRING


__all__ = ["Chatflow", "UploadSizeAndType", "UploadsConfig"]


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


@attrs.frozen(kw_only=True)
class UploadSizeAndType:
    """
    A kind of upload a chatflow accepts.

    Attributes:
        file_types: Accepted MIME types (may contain an empty string, as the server sends it).
        max_upload_size: The size limit in MB.
    """

    file_types: list[str] = attrs.field(factory=list)
    max_upload_size: float | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class UploadsConfig:
    """
    What a chatflow accepts as uploads (``GET /api/v1/chatflows-uploads/{id}``).

    Attributes:
        is_speech_to_text_enabled: Audio uploads are transcribed into the question.
        is_image_upload_allowed: Images may be sent to the flow's vision model.
        is_rag_file_upload_allowed: Files may be upserted into the flow's vector store.
        img_upload_size_and_types: Accepted image types and sizes.
        file_upload_size_and_types: Accepted file types and sizes.
        extra: Every other field the server sent.
    """

    is_speech_to_text_enabled: bool = False
    is_image_upload_allowed: bool = False
    is_rag_file_upload_allowed: bool = False
    img_upload_size_and_types: list[UploadSizeAndType] = attrs.field(factory=list)
    file_upload_size_and_types: list[UploadSizeAndType] = attrs.field(factory=list)
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
