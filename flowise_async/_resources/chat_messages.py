"""``client.chat_messages``: list and delete stored messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Unpack

from ..models._chat_messages import ChatMessage
from ..models._common import DeleteResult
from ._base import Endpoint, RequestOptions, Resource, date_param


__all__ = ["ChatMessages"]

_LIST = Endpoint("GET", "/api/v1/chatmessage/{chatflow_id}", answer=list[ChatMessage])
_DELETE = Endpoint("DELETE", "/api/v1/chatmessage/{chatflow_id}", expect="any")


def _many(value: str | Sequence[str] | None) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    return list(value)


class ChatMessages(Resource):
    """Stored messages of a chatflow: ``/api/v1/chatmessage/{chatflowId}``."""

    __slots__ = ()

    async def list(
        self,
        chatflow_id: str,
        *,
        chat_type: str | Sequence[str] | None = None,
        order: str | None = None,
        chat_id: str | None = None,
        memory_type: str | None = None,
        session_id: str | None = None,
        message_id: str | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        feedback: bool = False,
        feedback_type: str | Sequence[str] | None = None,
        page: int | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> list[ChatMessage]:
        """
        List the messages of a chatflow (oldest first unless *order* is ``"DESC"``).

        Args:
            chatflow_id: The chatflow.
            chat_type: One type or several: ``INTERNAL`` (UI), ``EXTERNAL`` (API),
                ``EVALUATION``, ``MCP``, ``SCHEDULED``, ``WEBHOOK``.
            order: ``"ASC"`` (default) or ``"DESC"`` by creation date.
            chat_id: Only this conversation.
            memory_type: Only messages with this memory node label.
            session_id: Only this memory session.
            message_id: Only this message.
            start_date: From this date (ISO text, `date` or `datetime`).
            end_date: Up to this date.
            feedback: Include each message's feedback (``feedback`` attribute); needed for
                *feedback_type* and for *page*/*limit*.
            feedback_type: With *feedback*: only messages rated ``THUMBS_UP`` and/or
                ``THUMBS_DOWN``.
            page: With *feedback*: this page (from 1); the server pages by conversation
                (session), so a page holds every message of *limit* sessions.
            limit: With *feedback*: sessions per page.

        Returns:
            The messages, with JSON columns decoded.
        """
        if (feedback_type is not None or page is not None or limit is not None) and not feedback:
            raise ValueError(
                "feedback_type, page and limit are only applied with feedback=True (the server "
                "ignores them otherwise)"
            )
        params = {
            "chatType": _many(chat_type),
            "order": order,
            "chatId": chat_id,
            "memoryType": memory_type,
            "sessionId": session_id,
            "messageId": message_id,
            "startDate": date_param(start_date),
            "endDate": date_param(end_date),
            # Any non-empty value switches the server to the feedback query.
            "feedback": "true" if feedback else None,
            "feedbackType": _many(feedback_type),
            "page": page,
            "limit": limit,
        }
        return await self._call(  # type: ignore[no-any-return]
            _LIST, {"chatflow_id": chatflow_id}, params=params, options=options
        )

    async def delete(
        self,
        chatflow_id: str,
        *,
        chat_id: str | None = None,
        memory_type: str | None = None,
        session_id: str | None = None,
        chat_type: str | Sequence[str] | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        feedback_type: str | Sequence[str] | None = None,
        hard_delete: bool = False,
        **options: Unpack[RequestOptions],
    ) -> DeleteResult:
        """
        Delete messages of a chatflow: all of them, or those matching the filters.

        Args:
            chatflow_id: The chatflow.
            chat_id: Only this conversation.
            memory_type: Only messages with this memory node label.
            session_id: Only this memory session.
            chat_type: Only messages of this type or types (``EXTERNAL``, ``INTERNAL`` ...).
            start_date: From this date (the server applies dates only when both are given).
            end_date: Up to this date.
            feedback_type: Only messages rated ``THUMBS_UP`` and/or ``THUMBS_DOWN``.
            hard_delete: Also clear the flow's external memory store (e.g. a Redis or
                database memory) for the deleted sessions.

        Returns:
            How many rows were deleted.

        Raises:
            NotFoundError: Unknown chatflow (or not in the key's workspace).
        """
        params = {
            "chatId": chat_id,
            "memoryType": memory_type,
            "sessionId": session_id,
            "chatType": _many(chat_type),
            "startDate": date_param(start_date),
            "endDate": date_param(end_date),
            "feedbackType": _many(feedback_type),
            "hardDelete": "true" if hard_delete else None,
        }
        return await self._delete(
            _DELETE,
            {"chatflow_id": chatflow_id},
            params=params,
            options=options,
        )
