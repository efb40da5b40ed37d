"""A bundle written by a newer publisher, read by today's FlagClient: real encryption, a
real loopback CDN, the reader's own (lenient) compile. The newer clause does not match,
the rest evaluates, the reader logs it once and each affected detail says why."""

from __future__ import annotations

import logging

import pytest

from edge_reader import Reason
from tests.client.bundles import USER, BundleFactory, bool_flag, make_client
from tests.client.cdn import LoopbackCdn

# What a newer engine might publish: an operator and a feature name this one does not know.
NEWER = {"attribute": "email", "op": "matches_glob", "values": ["*@shop.example"]}
FLAGS = {
    "checkout": bool_flag(on=False, rules=[
        {"id": "glob", "clauses": [NEWER], "serve": {"variation": "on"}},
        {"id": "de", "clauses": [{"attribute": "country", "op": "in", "values": ["DE"]}],
         "serve": {"variation": "on"}}]),
    "banner": bool_flag(on=False, rules=[
        {"id": "not-glob", "clauses": [{"not": NEWER}], "serve": {"variation": "on"}}]),
    "plain": bool_flag(on=True),
}


def test_a_newer_bundle_degrades_one_clause_and_says_so(
    cdn: LoopbackCdn, factory: BundleFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    document = factory.document(1, FLAGS, features=["clause_groups", "glob_operators"])
    factory.publish(cdn, factory.build(1, FLAGS, document=document))
    client = make_client(cdn, factory)
    with caplog.at_level(logging.WARNING, logger="edge_reader.client"):
        assert client.refresh().outcome == "updated"
        assert client.refresh().outcome != "updated"  # a 304: nothing logged again
    newer = [r for r in caplog.records if "does not support" in r.getMessage()]
    assert len(newer) == 1  # once per loaded bundle
    message = newer[0].getMessage()
    assert "flags.checkout.rules[0].clauses[0]" in message
    assert "matches_glob" in message
    assert "glob_operators" in message

    # The newer clause never matches; the next rule still does.
    d = client.get_boolean_details("checkout", {**USER, "email": "a@shop.example"}, False)
    assert (d.value, d.variant, d.reason, d.rule_id, d.error_code) == (
        True, "on", Reason.TARGETING_MATCH, "de", None)
    assert "unsupported clause" in (d.error_message or "")
    d = client.get_boolean_details("checkout", {"targetingKey": "u-2", "country": "FR"}, True)
    assert (d.value, d.variant, d.reason) == (False, "off", Reason.DEFAULT)
    # `not` around it: the inner clause counts as "does not match", so the `not` matches.
    assert client.get_boolean("banner", USER, False) is True
    # Flags without newer clauses are untouched.
    assert client.get_boolean_details("plain", USER, False).error_message is None
