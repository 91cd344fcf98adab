"""
Endpoint declarations: what one API method calls, stated once where the method is written.

An `Endpoint` names the HTTP method, the route template (``/api/v1/tools/{tool_id}``) and so
its path parameters, the type the answer is read into, the retry class, the server feature the
route needs and the path parameters that are secrets. Everything that groups, checks or shows a
call reads it from the request (`~flowise_async._transport.RequestSpec.endpoint`): telemetry
names spans by the template, the feature check asks the server's version when the declared
feature's route answers 404, and the values of secret parameters are redacted from messages,
logs and attributes, the way the API key is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import attrs

from ._features import FEATURES


__all__ = ["Endpoint"]

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_FEATURE_NAMES = frozenset(feature.name for feature in FEATURES)


def _params(route: str) -> tuple[str, ...]:
    return tuple(_PARAM.findall(route))


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@attrs.frozen
class Endpoint:
    """
    One route of the Flowise API, as a resource method declares it.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        route: The route template below the server root, each path parameter in braces
            (``/api/v1/chatflows/{chatflow_id}``): the span name and ``url.template``.
        answer: The type the JSON answer is read into (`structure`), None when the method
            reads the answer itself.
        expect: How the body is decoded: ``"json"``, ``"text"`` or ``"any"``.
        retry: The retry class: None retries idempotent methods (and others with
            ``Retries(retry_non_idempotent=True)``), True retries only what certainly never
            reached the server (predictions), False never retries.
        feature: The server feature the route needs (a name of ``_features.FEATURES``): a
            404 or web page from an older server becomes `FeatureUnavailableError`.
        secret: Path parameters whose values are secrets (an API key in the path): they are
            redacted like the client's key.
        params: The path parameters, in the order of the route (derived from *route*).
    """

    method: str
    route: str
    answer: Any = None
    expect: Literal["json", "text", "any"] = "json"
    retry: bool | None = None
    feature: str | None = None
    secret: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    params: tuple[str, ...] = attrs.field(init=False)

    @params.default
    def _params_default(self) -> tuple[str, ...]:
        return _params(self.route)

    def __attrs_post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {self.method!r}")
        if not self.route.startswith("/"):
            raise ValueError(f"route must start with '/', got {self.route!r}")
        if self.feature is not None and self.feature not in _FEATURE_NAMES:
            raise ValueError(f"unknown feature {self.feature!r} (see _features.FEATURES)")
        unknown = self.secret - set(self.params)
        if unknown:
            raise ValueError(f"secret names no path parameter of {self.route}: {sorted(unknown)}")

    def check(self, values: Mapping[str, Any]) -> dict[str, str]:
        """
        The path parameters of one call, checked: every parameter given, a non-empty string.

        Raises:
            ValueError: A parameter missing, extra, or not a non-empty string.
        """
        if set(values) != set(self.params):
            raise ValueError(
                f"{self.method} {self.route} takes the path parameters {list(self.params)}, "
                f"got {sorted(values)}"
            )
        for name, value in values.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        return dict(values)

    def secrets(self, values: Mapping[str, str]) -> tuple[str, ...]:
        """The values of the secret parameters, as given and as they appear in the path."""
        found: list[str] = []
        for name in self.secret:
            value = values[name]
            found += [value, quote(value, safe="")]
        return tuple(found)
