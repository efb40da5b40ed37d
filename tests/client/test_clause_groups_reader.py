"""The reader's change detection sees segments referenced inside clause groups."""

from __future__ import annotations

from tests.client.bundles import USER, BundleFactory, bool_flag, make_client
from tests.client.cdn import LoopbackCdn


def test_a_segment_inside_a_group_marks_its_flag_changed(
    cdn: LoopbackCdn, factory: BundleFactory,
) -> None:
    in_beta = {"attribute": "key", "op": "segment_match", "values": ["beta"]}
    grouped = bool_flag(on=False, rules=[{"id": "r", "serve": {"variation": "on"}, "clauses": [
        {"any": [{"attribute": "country", "op": "in", "values": ["XX"]}, {"not": {"not":
                                                                                 in_beta}}]}]}])
    flags = {"grouped": grouped, "plain": bool_flag()}
    seg = {"context_kind": "user", "included": ["u-1"], "excluded": [], "rules": [], "version": 1}
    factory.publish(cdn, factory.build(1, flags, segments={"beta": seg}))
    client = make_client(cdn, factory)
    client.refresh()
    assert client.get_boolean("grouped", USER, False) is True
    factory.publish(cdn, factory.build(2, flags, segments={"beta": {**seg, "included": [],
                                                                     "version": 2}}))
    assert client.refresh().changed == frozenset({"grouped"})
    assert client.get_boolean("grouped", USER, True) is False
