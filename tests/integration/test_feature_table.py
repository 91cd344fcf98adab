"""
Each row of the feature table (`flowise_async._features.FEATURES`) against each line's real
server: the line serves the feature, or the client raises `FeatureUnavailableError` naming the
feature and the release that added it (routes), or the line never sends it (events).

One cheap request per route feature and one streamed run per line for the event features.
"""

from __future__ import annotations

import uuid

import pytest

from flowise_async import (
    APIStatusError,
    AsyncFlowise,
    FeatureUnavailableError,
    UnexpectedContentError,
)
from flowise_async._features import FEATURES, Feature, feature_for_route, server_has
from harness import wire
from harness.server import RealFlowise
from tests.integration.conftest import ALL_LINES


pytestmark = pytest.mark.integration

LINES = ALL_LINES

# One cheap GET per route feature: a route of the feature that needs no body.
PROBES = {
    "executions": "/api/v1/executions",
    "account": "/api/v1/auth/permissions/ORGANIZATION",
    "text-to-speech": "/api/v1/text-to-speech/voices",
}

# What each event feature looks like on the wire of one streamed run.
EVENT_NAMES = {
    "agentflow-v2-events": {
        "agentFlowEvent",
        "nextAgentFlow",
        "agentFlowExecutedData",
        "calledTools",
    },
    "usage-metadata": {"usageMetadata"},
    "thinking": {"thinking"},
}

ROUTED = [feature for feature in FEATURES if feature.routes]
EVENTED = [feature for feature in FEATURES if not feature.routes]


def test_every_routed_feature_has_a_probe_on_one_of_its_routes() -> None:
    """A new route feature in the table needs its probe here (the test fails until then)."""
    assert set(PROBES) == {feature.name for feature in ROUTED}
    for feature in ROUTED:
        assert feature_for_route(PROBES[feature.name]) == feature


async def _status_of(client: AsyncFlowise, path: str) -> int:
    """The status of a bare GET: the route may refuse it (missing parameters, no session)."""
    try:
        await client._transport.request("GET", path)
    except UnexpectedContentError:
        raise  # the web page: the route is unknown to the server
    except APIStatusError as error:
        return error.status
    return 200


@pytest.mark.parametrize("feature", ROUTED, ids=lambda feature: feature.name)
async def test_a_route_feature_is_served_or_a_typed_error(
    client: AsyncFlowise, real_flowise: RealFlowise, feature: Feature
) -> None:
    """Where the line has it the route exists (any answer but 404); before, the typed error."""
    transport = client._transport
    path = PROBES[feature.name]
    if server_has(feature.name, real_flowise.version):
        # Any answer but 404 (a FeatureUnavailableError would fail the test by itself).
        assert await _status_of(client, path) != 404
    else:
        with pytest.raises(FeatureUnavailableError) as info:
            await transport.request("GET", path)
        assert info.value.feature == feature.name
        assert info.value.added_in == feature.added_in
        assert info.value.server_version == real_flowise.version


_RUNS: dict[str, wire.CapturedStream] = {}


async def _one_run(real: RealFlowise, chatflow_id: str) -> wire.CapturedStream:
    """One streamed run per line, shared by the event features."""
    if real.base_url not in _RUNS:
        captured = await wire.capture_stream(
            real.base_url,
            chatflow_id,
            "feature table [[words=2]]",
            chat_id=f"features-{uuid.uuid4()}",
            api_key=real.api_key,
        )
        _RUNS.clear()
        _RUNS[real.base_url] = captured
    return _RUNS[real.base_url]


@pytest.mark.parametrize("feature", EVENTED, ids=lambda feature: feature.name)
async def test_an_event_feature_is_never_sent_by_a_line_that_predates_it(
    real_flowise: RealFlowise, chatflows: dict[str, str], feature: Feature
) -> None:
    """
    A line older than the feature's release does not send it; a line that has it answers the
    same run intact (the feature's events themselves are asserted by the suites of each
    feature: streaming, agent flows, usage, human in the loop).
    """
    captured = await _one_run(real_flowise, chatflows["conversation"])
    assert captured.status == 200
    names = wire.event_names(captured.body)
    assert names[0] == "start"
    assert names[-1] == "end"
    has = server_has(feature.name, real_flowise.version)
    payloads = [wire.frame_payload(frame) for frame in wire.split_frames(captured.body)]
    metadata = [p["data"] for p in payloads if p is not None and p.get("event") == "metadata"]
    assert len(metadata) == 1
    if has:
        return
    if feature.name in EVENT_NAMES:
        assert not EVENT_NAMES[feature.name] & set(names)
    elif feature.name == "metadata-action":
        assert "action" not in metadata[0]
    elif feature.name == "heartbeat":
        assert wire.HEARTBEAT not in wire.split_frames(captured.body)
        # Came with the same release: every frame written `message:`.
        assert wire.split_frames(captured.body)[-1].startswith(wire.OLD_FRAME_PREFIX)
    else:
        pytest.fail(f"no check for the event feature {feature.name!r}")
