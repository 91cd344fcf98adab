"""``client.executions``: the records of agent flow runs (Flowise 3.0 and later)."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any, Unpack

from .._convert import StructureError, converter
from ..models._common import Page
from ..models._executions import Execution, ExecutionState
from ._base import (
    DEFAULT_PAGE_SIZE,
    Endpoint,
    RequestOptions,
    Resource,
    date_param,
    structure,
    wrong_answer,
)


__all__ = ["Executions"]

_EXECUTIONS = "/api/v1/executions"
_FEATURE = "executions"  # Flowise 3.0
_LIST = Endpoint("GET", _EXECUTIONS, feature=_FEATURE)
_GET = Endpoint("GET", "/api/v1/executions/{execution_id}", answer=Execution, feature=_FEATURE)
_GET_PUBLIC = Endpoint(
    "GET", "/api/v1/public-executions/{execution_id}", answer=Execution, feature=_FEATURE
)
_UPDATE = Endpoint("PUT", "/api/v1/executions/{execution_id}", answer=Execution, feature=_FEATURE)
_DELETE = Endpoint("DELETE", "/api/v1/executions/{execution_id}", feature=_FEATURE)
_DELETE_MANY = Endpoint("DELETE", _EXECUTIONS, feature=_FEATURE)
_STATES = frozenset(state.value for state in ExecutionState)


def _structure_state(value: Any, _: Any) -> ExecutionState | str:
    if type(value) is not str:
        raise StructureError(f"expected a string, got {type(value).__name__}")
    return ExecutionState(value) if value in _STATES else value


converter.register_structure_hook(ExecutionState | str, _structure_state)


def _state_param(state: ExecutionState | str | None) -> str | None:
    if state is None:
        return None
    value = str(state.value if isinstance(state, ExecutionState) else state)
    if value not in _STATES:
        # The server ignores a state it does not know and lists every execution.
        raise ValueError(f"state must be one of {', '.join(sorted(_STATES))}, got {state!r}")
    return value


class Executions(Resource):
    """
    Agent flow runs: ``/api/v1/executions`` (needs the ``executions:*`` permissions).
    """

    __slots__ = ()

    async def list(
        self,
        *,
        agentflow_id: str | None = None,
        agentflow_name: str | None = None,
        session_id: str | None = None,
        state: ExecutionState | str | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        id: str | None = None,
        page: int = 1,
        limit: int = 12,
        **options: Unpack[RequestOptions],
    ) -> Page[Execution]:
        """
        One page of executions, the most recently updated first.

        The server always pages this listing (12 per page unless *limit* says otherwise);
        `iter` walks every page.

        Args:
            agentflow_id: Only runs of this agent flow.
            agentflow_name: Only runs of agent flows whose name contains this text (any case).
            session_id: Only runs of this session (the chat id, unless
                ``overrideConfig.sessionId`` set another).
            state: Only runs in this state (`ExecutionState` or its text).
            start_date: Only runs created at or after this time (ISO text, `date` or
                `datetime`).
            end_date: Only runs created at or before this time.
            id: Only the execution with this id.
            page: The page, from 1.
            limit: Executions per page.

        Returns:
            The page: its executions and the total over all pages.

        Raises:
            ValueError: An unknown *state*, or a *page* or *limit* below 1.
        """
        if page < 1 or limit < 1:
            raise ValueError("page and limit must be positive (pages count from 1)")
        params = {
            "id": id,
            "agentflowId": agentflow_id,
            "agentflowName": agentflow_name,
            "sessionId": session_id,
            "state": _state_param(state),
            "startDate": date_param(start_date),
            "endDate": date_param(end_date),
            "page": page,
            "limit": limit,
        }
        data = await self._call(_LIST, params=params, options=options)
        if not isinstance(data, dict) or "data" not in data or "total" not in data:
            raise wrong_answer(
                "the answer to GET /api/v1/executions is not a page of executions (is the "
                "server older than Flowise 3.0?)",
                data,
                "GET",
                _EXECUTIONS,
            )
        return Page(
            items=structure(data["data"], builtins.list[Execution]),
            total=structure(data["total"], int),
        )

    async def iter(
        self,
        *,
        agentflow_id: str | None = None,
        agentflow_name: str | None = None,
        session_id: str | None = None,
        state: ExecutionState | str | None = None,
        start_date: str | dt.date | None = None,
        end_date: str | dt.date | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[Execution]:
        """
        Every execution that matches the filters (see `list`), one page request at a time.

        Example::

            async for execution in flowise.executions.iter(state="STOPPED"):
                print(execution.id, execution.session_id)
        """
        if page_size < 1:
            raise ValueError("page_size must be positive")
        page = 1
        seen: set[str] = set()
        while True:
            result = await self.list(
                agentflow_id=agentflow_id,
                agentflow_name=agentflow_name,
                session_id=session_id,
                state=state,
                start_date=start_date,
                end_date=end_date,
                page=page,
                limit=page_size,
                **options,
            )
            for execution in result.items:
                # The listing is ordered by update time: a run that changes while we walk
                # can move to a later page; yield it once.
                if execution.id not in seen:
                    seen.add(execution.id)
                    yield execution
            if len(result.items) < page_size or page * page_size >= result.total:
                return
            page += 1

    async def get(self, execution_id: str, **options: Unpack[RequestOptions]) -> Execution:
        """
        One execution, with its node states decoded (`Execution.execution_data`).

        Raises:
            NotFoundError: No execution has this id.
        """
        return await self._call(_GET, {"execution_id": execution_id}, options=options)  # type: ignore[no-any-return]

    async def get_public(self, execution_id: str, **options: Unpack[RequestOptions]) -> Execution:
        """
        A public execution (``is_public``), read without an API key; the server removes the
        credential ids from its node data.

        Raises:
            NotFoundError: No public execution has this id.
        """
        return await self._call(_GET_PUBLIC, {"execution_id": execution_id}, options=options)  # type: ignore[no-any-return]

    async def update(
        self, execution_id: str, *, is_public: bool, **options: Unpack[RequestOptions]
    ) -> Execution:
        """
        Change an execution; today the one field meant for it is *is_public* (share the run
        through ``/api/v1/public-executions/{id}``).

        Returns:
            The execution as stored.
        """
        if not isinstance(is_public, bool):
            raise TypeError("is_public must be True or False")
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE,
            {"execution_id": execution_id},
            json_body={"isPublic": is_public},
            options=options,
        )

    async def delete(self, execution_id: str, **options: Unpack[RequestOptions]) -> int:
        """
        Delete one execution (its chat messages stay, without the link to it).

        Returns:
            How many executions were deleted: 1, or 0 when none had this id.
        """
        data = await self._call(_DELETE, {"execution_id": execution_id}, options=options)
        return _deleted(data)

    async def delete_many(
        self, execution_ids: Iterable[str], **options: Unpack[RequestOptions]
    ) -> int:
        """
        Delete several executions in one call.

        Returns:
            How many were deleted (ids that do not exist are not counted).
        """
        if isinstance(execution_ids, str):
            raise TypeError("execution_ids must be a list of ids, not one string")
        ids = [_non_empty(i, "each execution id") for i in execution_ids]
        if not ids:
            raise ValueError("execution_ids is empty")
        data = await self._call(_DELETE_MANY, json_body={"executionIds": ids}, options=options)
        return _deleted(data)

    async def for_chat(
        self, agentflow_id: str, chat_id: str, **options: Unpack[RequestOptions]
    ) -> Execution | None:
        """
        The latest execution of a chat (its session), or ``None`` if the chat has none.

        Streamed predictions do not report their execution id; this finds it. A chat whose
        run stopped for a person and was resumed has one execution for both parts.

        Args:
            agentflow_id: The agent flow.
            chat_id: The chat id (or the ``overrideConfig.sessionId`` the runs used).
        """
        page = await self.list(
            agentflow_id=_non_empty(agentflow_id, "agentflow_id"),
            session_id=_non_empty(chat_id, "chat_id"),
            limit=1,
            **options,
        )
        return page.items[0] if page.items else None


def _non_empty(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _deleted(data: Any) -> int:
    if isinstance(data, dict) and isinstance(data.get("deletedCount"), int):
        return int(data["deletedCount"])
    raise wrong_answer(
        "the answer to an execution delete has no deletedCount", data, "DELETE", _EXECUTIONS
    )
