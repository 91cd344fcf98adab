"""
What each Flowise release line offers: one table of features, the routes and events that carry
them, and the release that added each.

The client uses it in one place: when a call answers ``404`` or Flowise's web page (the answer
of every unknown route), `unavailable_error` compares the server's version with the release
that added the feature the route's endpoint declares (`_endpoint.Endpoint.feature`) and,
when the server is older, gives the typed `FeatureUnavailableError` instead of a generic
not-found or "not JSON" error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._exceptions import FeatureUnavailableError


__all__ = [
    "FEATURES",
    "Feature",
    "feature_for_route",
    "parse_version",
    "server_has",
    "unavailable_error",
]


@dataclass(frozen=True)
class Feature:
    """
    One feature of the Flowise server.

    Attributes:
        name: A short name (``"executions"``).
        added_in: The first release that has it (``"3.0.0"``).
        routes: Route templates under the server root, ``{name}`` for one path segment and a
            trailing ``/*`` for any sub-path; empty for a feature of the event stream only.
        description: What it is, in a few words.
    """

    name: str
    added_in: str
    routes: tuple[str, ...] = ()
    description: str = ""


FEATURES: tuple[Feature, ...] = (
    Feature(
        "executions",
        "3.0.0",
        (
            "/api/v1/executions",
            "/api/v1/executions/{id}",
            "/api/v1/public-executions/{id}",
        ),
        "agent flow v2 execution records",
    ),
    Feature(
        "account",
        "3.0.0",
        ("/api/v1/account/*", "/api/v1/auth/*"),
        "user accounts, registration and login",
    ),
    Feature(
        "agentflow-v2-events",
        "3.0.0",
        description="agentFlowEvent, nextAgentFlow, agentFlowExecutedData and calledTools events",
    ),
    Feature("usage-metadata", "3.0.0", description="the usageMetadata event"),
    Feature(
        "text-to-speech",
        "3.0.8",
        ("/api/v1/text-to-speech/*",),
        "text-to-speech routes and the tts_* events",
    ),
    Feature("thinking", "3.1.0", description="the thinking event"),
    Feature("metadata-action", "3.1.2", description="metadata.action of a stopped run"),
    Feature("heartbeat", "3.1.2", description="the :heartbeat comment every 30 s of a stream"),
    Feature("flow-variables", "2.2.6", description="metadata.flowVariables"),
)

_BY_NAME = {feature.name: feature for feature in FEATURES}

_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """
    Return ``(major, minor, patch)`` of a version text such as ``"3.0.13"``, or None.

    A pre-release suffix is ignored (``"3.1.0-rc.1"`` counts as 3.1.0).
    """
    match = _VERSION.match(text)
    if match is None:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def server_has(feature: str, server_version: str) -> bool | None:
    """
    Tell whether a server of *server_version* has *feature* (a name of `FEATURES`).

    Returns:
        True or False; None when the version cannot be read.

    Raises:
        KeyError: *feature* is not in the table.
    """
    wanted = parse_version(_BY_NAME[feature].added_in)
    have = parse_version(server_version)
    if wanted is None or have is None:
        return None
    return have >= wanted


def _template_regex(template: str) -> re.Pattern[str]:
    parts = []
    wildcard = template.endswith("/*")
    body = template[:-2] if wildcard else template
    for piece in re.split(r"(\{[^}/]+\})", body):
        if piece.startswith("{") and piece.endswith("}"):
            parts.append(r"[^/]+")
        else:
            parts.append(re.escape(piece))
    tail = r"(?:/.*)?" if wildcard else r"/?"
    return re.compile("^" + "".join(parts) + tail + "$")


_ROUTES: tuple[tuple[re.Pattern[str], Feature], ...] = tuple(
    (_template_regex(route), feature) for feature in FEATURES for route in feature.routes
)


def feature_for_route(path: str) -> Feature | None:
    """
    Return the feature whose route matches *path* (``"/api/v1/executions/abc"``), or None.

    A query string and a full URL's scheme and host are ignored.
    """
    path = re.sub(r"^[a-z]+://[^/]+", "", path).split("?", 1)[0]
    for pattern, feature in _ROUTES:
        if pattern.match(path):
            return feature
    return None


def unavailable_error(
    feature: str, status: int, content_type: str, server_version: str | None
) -> FeatureUnavailableError | None:
    """
    Decide whether a failed call means "this server is too old for the feature".

    Args:
        feature: The feature the called route needs (a name of `FEATURES`: what the
            route's endpoint declares, or `feature_for_route` for a route without one).
        status: The answer's status.
        content_type: The answer's content type (without parameters).
        server_version: What ``GET /api/v1/version`` answered, or None if unknown.

    Returns:
        The error to raise instead of the generic one when the feature is newer than the
        server's release and the answer is a 404 or Flowise's web page (its answer to
        unknown routes); otherwise None (the generic error stands).
    """
    if server_version is None:
        return None
    if not (status == 404 or content_type == "text/html"):
        return None
    if server_has(feature, server_version) is not False:
        return None
    found = _BY_NAME[feature]
    return FeatureUnavailableError(
        feature=found.name, added_in=found.added_in, server_version=server_version
    )
