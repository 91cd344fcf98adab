"""``client.leads``: contact details left in chats."""

from __future__ import annotations

import builtins
from typing import Any, Unpack

from ..models._leads import Lead
from ._base import Endpoint, RequestOptions, Resource


__all__ = ["Leads"]

_CREATE = Endpoint("POST", "/api/v1/leads", answer=Lead)
_LIST = Endpoint("GET", "/api/v1/leads/{chatflow_id}", answer=builtins.list[Lead])


class Leads(Resource):
    """Leads: ``/api/v1/leads``."""

    __slots__ = ()

    async def create(
        self,
        chatflow_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        chat_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Lead:
        """
        Store a lead for a chatflow (public route; no key needed).

        Args:
            chatflow_id: The chatflow.
            name: The person's name.
            email: The e-mail address.
            phone: The phone number.
            chat_id: The conversation (default: a new id chosen by the server).
        """
        body: dict[str, Any] = {"chatflowid": chatflow_id}
        for key, value in (("name", name), ("email", email), ("phone", phone), ("chatId", chat_id)):
            if value is not None:
                body[key] = value
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def list(
        self, chatflow_id: str, **options: Unpack[RequestOptions]
    ) -> builtins.list[Lead]:
        """
        List the leads of a chatflow.

        Note:
            Flowise 3.1.3 and later read the caller's workspace on this public route, which
            an API-key client never has there: those servers answer `NotFoundError`
            ("workspace undefined not found") to every API-key caller. Older servers answer.
        """
        return await self._call(_LIST, {"chatflow_id": chatflow_id}, options=options)  # type: ignore[no-any-return]
