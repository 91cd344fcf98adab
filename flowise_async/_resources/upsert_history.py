"""``client.upsert_history``: past vector upserts of a chatflow."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable
from typing import Unpack

from ..models._common import DeleteResult
from ..models._upsert_history import UpsertRecord
from ._base import Endpoint, RequestOptions, Resource, date_param, structure


__all__ = ["UpsertHistory"]

_LIST = Endpoint("GET", "/api/v1/upsert-history/{chatflow_id}", answer=builtins.list[UpsertRecord])
_DELETE = Endpoint("PATCH", "/api/v1/upsert-history", expect="any")


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
        return await self._call(  # type: ignore[no-any-return]
            _LIST, {"chatflow_id": chatflow_id}, params=params, options=options
        )

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
        data = await self._call(_DELETE, json_body={"ids": id_list}, options=options)
        if isinstance(data, dict):
            return structure(data, DeleteResult)
        return DeleteResult(raw=data)
