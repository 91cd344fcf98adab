"""
Type-checked only (``mypy --strict tests/typing/agentflows.py``): the agent flow API as user
code reads it. Never run.
"""

from __future__ import annotations

from flowise_async import AsyncFlowise, ChatBusyError, ChatSession, NotWaitingError, Prediction
from flowise_async.models import Action, Execution, ExecutionState, Page


async def approve(flowise: AsyncFlowise, flow_id: str) -> str:
    answer: Prediction = await flowise.predictions.create(flow_id, "Delete the file")
    action: Action | None = answer.pending_action
    if action is not None and answer.chat_id is not None:
        label: str = action.approve_label
        node: str | None = action.node_id
        print(label, node, action.feedback_enabled)
        try:
            answer = await flowise.predictions.resume(
                flow_id, answer.chat_id, "proceed", feedback="ok", action=action
            )
        except NotWaitingError as exc:
            state: str | None = exc.state
            print(state)
    async with flowise.predictions.resume_stream(flow_id, "chat", "reject") as stream:
        waiting: Action | None = stream.pending_action
        print(waiting)
        return (await stream.final()).text


async def executions(flowise: AsyncFlowise, flow_id: str) -> list[str]:
    page: Page[Execution] = await flowise.executions.list(agentflow_id=flow_id, state="STOPPED")
    ids = [e.id for e in page.items if e.state is ExecutionState.STOPPED]
    async for execution in flowise.executions.iter(state=ExecutionState.FINISHED):
        ids.append(execution.id)
    latest: Execution | None = await flowise.executions.for_chat(flow_id, "chat")
    if latest is not None:
        await flowise.executions.update(latest.id, is_public=True)
        deleted: int = await flowise.executions.delete_many([latest.id])
        print(deleted)
    return ids


async def session(flowise: AsyncFlowise, flow_id: str) -> None:
    chat: ChatSession = flowise.chat(flow_id)
    try:
        await chat.ask("one")
        async with chat.stream("two") as stream:
            async for text in stream.text_stream():
                print(text)
    except ChatBusyError:
        pass
    if chat.pending_action is not None:
        await chat.resume("reject")
    print([m.content for m in await chat.history()])
