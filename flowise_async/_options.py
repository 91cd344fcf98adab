"""
The options of a call, and the one rule that merges them.

A call's settings come in layers: the client's (``AsyncFlowise(timeouts=..., retries=...)``),
those of each `~flowise_async.AsyncFlowise.with_options` view, and the call's own keyword
arguments (`RequestOptions`, with ``headers=`` and `PredictionOptions` as conveniences that
feed the same fields). Each layer above the client is a `CallOptions`, and `FinalOptions.over`
lays one over the settings below it: that is the only place where timeouts, retries, headers,
query and body are merged. The transport and the event stream read the resulting
`FinalOptions` only (the stream's event timeout included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from ._config import Retries, Timeouts


__all__ = ["CallOptions", "FinalOptions", "joined"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class CallOptions:
    """
    One layer of options: a call's, or a client view's (``with_options``); None keeps the
    setting below.

    *timeouts* are laid over field by field (`Timeouts.merge`); *headers*, *query* and
    *body* are added (later values win); *retries* and *api_key* replace.
    """

    timeouts: Timeouts | None = None
    retries: Retries | None = None
    headers: Mapping[str, str] | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class FinalOptions:
    """
    Every setting of one call, resolved: what the transport and the stream read.

    Attributes:
        timeouts: All six limits (`Timeouts`).
        retries: The retry policy.
        headers: Headers added to the request, over the client's ``headers=``.
        api_key: A key replacing the client's (a view's), None for the client's own.
        query: Query parameters added to the URL.
        body: Fields added to the JSON body or to the form.
    """

    timeouts: Timeouts
    retries: Retries
    headers: Mapping[str, str] | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None

    def over(self, layer: CallOptions | None) -> FinalOptions:
        """These settings with *layer* laid over them (the one merge of options)."""
        if layer is None:
            return self
        timeouts = self.timeouts if layer.timeouts is None else layer.timeouts.merge(self.timeouts)
        return FinalOptions(
            timeouts=timeouts,
            retries=layer.retries or self.retries,
            headers=joined(self.headers, layer.headers),
            api_key=layer.api_key or self.api_key,
            query=joined(self.query, layer.query),
            body=joined(self.body, layer.body),
        )


def joined(first: Mapping[str, T] | None, second: Mapping[str, T] | None) -> Mapping[str, T] | None:
    """*first* with *second* added (the values of *second* win); None when both are empty."""
    if not first:
        return second
    if not second:
        return first
    return {**first, **second}
