"""vexil.crdiff: a change request's operation as per-field lines against the current state."""

from __future__ import annotations

from vexil.crdiff import describe, field_lines, target_path

CR = {"id": "cr-1", "project": "shop", "environment": "prod", "status": "pending",
      "author": {"name": "ann", "token_id": "tok_a"}, "approvals": [], "change_hash": "h",
      "created_at": "t"}


def test_scalar_change_addition_and_removal() -> None:
    before = {"enabled": False, "description": "old", "off_variation": "off"}
    after = {"enabled": True, "off_variation": "off", "targets": []}
    assert field_lines(before, after) == [
        "  - description: \"old\"", "  ~ enabled: false → true", "  + targets: []"]


def test_nested_change_is_a_small_diff_without_hunk_headers() -> None:
    lines = field_lines({"rules": [{"id": "a", "op": "in"}]}, {"rules": [{"id": "a", "op": "is"}]})
    assert lines[0] == "  ~ rules:"
    assert '      -    "op": "in"' in lines
    assert '      +    "op": "is"' in lines
    assert not any("@@" in ln for ln in lines)


def test_flag_config_against_the_current_config_and_a_stale_base() -> None:
    cr = {**CR, "operation": {"type": "flag.config.put", "flag": "x", "base_version": 3,
                              "body": {"enabled": True, "default": {"variation": "on"}}}}
    current = {"key": "x", "version": 4, "config": {"enabled": False,
                                                      "default": {"variation": "on"}}}
    lines = describe(cr, current)
    assert "  author:     ann (tok_a)   filed t" in lines
    assert lines[-1] == "  ~ enabled: false → true"
    assert any("WARNING: the target is at version 4" in ln for ln in lines)


def test_delete_and_unknown_operation_types() -> None:
    gone = describe({**CR, "operation": {"type": "segment.delete", "segment": "s",
                                         "base_version": 1}},
                    {"key": "s", "version": 1, "included": ["a"]})
    assert gone[-2:] == ["  (deleted)", '  - included: ["a"]']
    newer = {"type": "changeset.apply", "changes": [{"type": "flag.config.put"}]}
    assert target_path("shop", "prod", newer) is None
    lines = describe({**CR, "operation": newer}, None)
    assert "operation (this CLI has no field view for it):" in lines
    assert '    "type": "changeset.apply"' in lines
    assert '  operation:  changeset.apply' in lines
