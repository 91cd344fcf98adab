"""
The call shapes of the official ``flowise`` Python SDK, synchronous, on top of SyncFlowise.

Porting code written for ``flowise`` is an import change (and closing the client)::

    from flowise_async.sync_compat import Flowise, PredictionData

    client = Flowise("http://localhost:3000", api_key=KEY)
    completion = client.create_prediction(
        PredictionData(chatflowId=FLOW_ID, question="Tell me a joke!", streaming=True)
    )
    for chunk in completion:  # JSON text of each event, as the SDK yields it
        print(chunk)
    client.close()

It is `flowise_async.compat` run by `~flowise_async.sync.SyncFlowise`, with the same
deliberate differences from the SDK (typed `~flowise_async.FlowiseError` errors, timeouts
always set, exact chunk texts, history sent in the shape the server reads) and one more: the
client holds a connection pool, so close it (``with Flowise(...) as client:`` or
`Flowise.close`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from . import compat
from ._sync_runtime import END
from .compat import IFileUpload, IMessage, PredictionData
from .sync import SyncFlowise, SyncIterator


__all__ = ["Flowise", "IFileUpload", "IMessage", "PredictionChunks", "PredictionData"]


class Flowise:
    """
    The official SDK's client, synchronous (the twin of `flowise_async.compat.Flowise`).

    Args:
        base_url: The server root; default ``http://localhost:3000``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds for connecting, for the response headers and between two events
            (the SDK's *timeout*); ``None`` keeps the defaults of `~flowise_async.Timeouts`.
        client: A `~flowise_async.sync.SyncFlowise` to use instead of an own one (it is
            then not closed by `close`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        *,
        client: SyncFlowise | None = None,
    ) -> None:
        self.base_url = base_url or "http://localhost:3000"
        self.api_key = api_key or ""
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            client = SyncFlowise(
                self.base_url, api_key=api_key or None, timeouts=compat.sdk_timeouts(timeout)
            )
        self.client = client
        self._open: list[PredictionChunks] = []

    def __repr__(self) -> str:
        return f"<Flowise (sync compat) base_url={self.client.base_url!r}>"

    def create_prediction(self, data: PredictionData) -> PredictionChunks:
        """
        Run a prediction; iterate the result with ``for``.

        As in the SDK, the chatflow's ability to stream is checked first. A streamed run
        yields the JSON text of each event; otherwise the answer's JSON object is yielded once.
        """
        chunks = PredictionChunks(self, data)
        self._open = [c for c in self._open if not c.closed]
        self._open.append(chunks)
        return chunks

    def close(self) -> None:
        """Close the predictions left unfinished, then the client (if this object made it)."""
        for chunks in self._open:
            chunks.close()
        self._open.clear()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Flowise:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PredictionChunks(SyncIterator[Any]):
    """
    The result of `Flowise.create_prediction`: an iterator of strings (a stream) or of one
    dict (a whole answer). Leaving the loop early leaves the response open until `close`
    (or `Flowise.close`).
    """

    __slots__ = ("closed",)

    def __init__(self, owner: Flowise, data: PredictionData) -> None:
        client = owner.client
        shim = compat.Flowise(client=client._target())
        super().__init__(client._runner, shim.create_prediction(data))
        self.closed = False

    def __iter__(self) -> PredictionChunks:
        return self

    def close(self) -> None:
        """Close the response. Idempotent."""
        self.closed = True
        super().close()
        self._done = END  # as in the SDK, a closed prediction just ends
