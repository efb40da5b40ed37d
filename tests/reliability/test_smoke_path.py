"""The whole write → publish → read path works before any fault is injected."""

from __future__ import annotations

from typing import Any

from edge_reader import ClientStatus
from tests.reliability.conftest import Plane
from tests.reliability.readers import OriginProxy, live_revision, reader


def test_api_write_is_published_and_read_over_http(plane: Plane, publisher: Any,
                                                  origin: OriginProxy) -> None:
    p = plane.project()
    plane.flag(p)
    key = plane.sdk_key(p)["key"]
    r = plane.api.put(f"/v1/projects/{p}/environments/prod/flags/checkout",
                      {"enabled": True, "off_variation": "off", "default": {"variation": "on"}},
                      if_match=1)
    assert r.status_code == 200, r.json
    publisher.publish(p, "prod")
    revision = int(plane.env_item(p)["revision"])
    assert live_revision(p) == revision
    client = reader(origin, p, key)
    assert client.refresh().outcome == "updated"
    assert client.status().state is ClientStatus.READY
    assert client.get_boolean("checkout", {"targetingKey": "u"}, False) is True
    assert client.status().revision == revision
