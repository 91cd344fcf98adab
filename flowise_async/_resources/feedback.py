"""``client.feedback``: rate answers."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any, Unpack

from ..models._feedback import Feedback
from ._base import Endpoint, RequestOptions, Resource, date_param


__all__ = ["FeedbackResource"]

_CREATE = Endpoint("POST", "/api/v1/feedback", answer=Feedback)
_LIST = Endpoint("GET", "/api/v1/feedback/{chatflow_id}", answer=builtins.list[Feedback])
_UPDATE = Endpoint("PUT", "/api/v1/feedback/{feedback_id}", expect="any")


class FeedbackResource(Resource):
    """
    Feedback on answer messages: ``/api/v1/feedback``.

    These routes are public on the server: they need no API key.
    """

    __slots__ = ()

    async def create(
        self,
        *,
        message_id: str,
        rating: str,
        content: str | None = None,
        chat_id: str | None = None,
        chatflow_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Feedback:
        """
        Rate an answer message.

        A message takes one rating: to change it, `update` the returned feedback (the
        server may store a second row for the same message).

        Args:
            message_id: The rated message (``Prediction.chat_message_id``).
            rating: ``"THUMBS_UP"`` or ``"THUMBS_DOWN"``.
            content: A comment.
            chat_id: The message's conversation (default: read from the message).
            chatflow_id: The message's chatflow (default: read from the message).

        Raises:
            NotFoundError: Unknown message.
            BadRequestError: *chat_id* or *chatflow_id* does not match the message.
        """
        body: dict[str, Any] = {"messageId": message_id, "rating": rating}
        if content is not None:
            body["content"] = content
        if chat_id is not None:
            body["chatId"] = chat_id
        if chatflow_id is not None:
            body["chatflowid"] = chatflow_id
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def list(
        self,
        chatflow_id: str,
        *,
        chat_id: str | None = None,
        order: str | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[Feedback]:
        """List the feedback of a chatflow, optionally of one conversation or date range."""
        params = {
            "chatId": chat_id,
            "order": order,
            "startDate": date_param(start_date),
            "endDate": date_param(end_date),
        }
        return await self._call(  # type: ignore[no-any-return]
            _LIST, {"chatflow_id": chatflow_id}, params=params, options=options
        )

    async def update(
        self,
        feedback_id: str,
        *,
        rating: str | None = None,
        content: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> None:
        """
        Change the rating and/or comment of a feedback.

        Raises:
            NotFoundError: Unknown feedback id.
        """
        body: dict[str, Any] = {}
        if rating is not None:
            body["rating"] = rating
        if content is not None:
            body["content"] = content
        await self._call(_UPDATE, {"feedback_id": feedback_id}, json_body=body, options=options)
