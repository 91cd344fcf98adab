"""``client.upsert_history``: past vector upserts of a chatflow."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable
from typing import Unpack

from ..models._common import DeleteResult
from ..models._upsert_history import UpsertRecord
from ._base import RequestOptions, Resource, date_param, path_id, structure


__all__ = ["UpsertHistory"]

_PATH = "/api/v1/upsert-history"


class UpsertHistory(Resource):
    """Upsert history: ``/api/v1/upsert-history``."""

    __slots__ = ()

    async def list(
        self,
        chatflow_id: str,
        *,
        order: str | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[UpsertRecord]:
        """
        List the vector upserts of a chatflow (*order* ``"ASC"`` or ``"DESC"`` by date).

        Raises:
            NotFoundError: Unknown chatflow.
        """
        params = {
            "order": order,
            "startDate": date_param(start_date),
            "endDate": date_param(end_date),
        }
        data = await self._request(
            "GET", f"{_PATH}/{path_id(chatflow_id, 'chatflow_id')}", params=params, options=options
        )
        return structure(data, builtins.list[UpsertRecord])

    async def delete(self, ids: Iterable[str], **options: Unpack[RequestOptions]) -> DeleteResult:
        """
        Delete upsert records by id (``PATCH /upsert-history`` with ``{"ids": [...]}``).

        Raises:
            BadRequestError: No ids.
            NotFoundError: An id is unknown.
        """
        id_list = [ids] if isinstance(ids, str) else list(ids)
        if not id_list:
            raise ValueError("give at least one id")
        data = await self._request(
            "PATCH", _PATH, json_body={"ids": id_list}, expect="any", options=options
        )
        if isinstance(data, dict):
            return structure(data, DeleteResult)
        return DeleteResult(raw=data)
