"""The Chalice app registers the publisher Lambda and routes it to the stream handler."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.publisher.tablekit import TableKit

EVENTS = Path(__file__).resolve().parent.parent / "events"


def test_publisher_lambda_is_registered_and_publishes(
    vexil_resources: dict[str, str], kit: TableKit
) -> None:
    import app as chalice_app
    from chalicelib.publish import stream

    assert "publisher" in chalice_app.app.handler_map
    kit.env(revision=1)
    kit.flag("checkout")
    text = (EVENTS / "stream_batch.json").read_text().replace("#shop", f"#{kit.project}")
    result = chalice_app.publisher(orjson.loads(text), None)
    assert result == {"batchItemFailures": []}
    assert stream.get_publisher().store.current(kit.project, "prod", "server").revision == 1
