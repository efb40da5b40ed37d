"""One meaning of an absent `enabled` — on — in the format doc, the getting-started guide,
flags files, plan output and the engine. Any one of them drifting fails here."""

from __future__ import annotations

import re
from pathlib import Path

from edge_reader.engine import Context, Reason, compile_environment
from edge_reader.engine.fields import ENABLED_DEFAULT
from vexil.flagsfile import parse
from vexil.plan import build_plan, render
from vexil.remote import RemoteFlag, RemoteState

DOCS = Path(__file__).resolve().parents[2] / "docs"
NO_ENABLED = {"kind": "boolean", "variations": {"on": True, "off": False},
              "off_variation": "off", "default": {"variation": "on"}}


def test_the_rule_is_on() -> None:
    assert ENABLED_DEFAULT is True


def test_the_docs_say_on_and_never_off() -> None:
    fmt = (DOCS / "flag-format.md").read_text(encoding="utf-8")
    guide = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert "| `enabled` | no (true) |" in fmt
    assert "an absent `enabled` means on" in fmt.lower()
    assert re.search(r"absent `enabled` means\s+\*\*on\*\*", guide)
    for text in (fmt, guide):
        assert not re.search(r"absent `enabled`\s+means\s+\**off", text, re.IGNORECASE)


def test_the_engine_serves_a_flag_without_enabled() -> None:
    env = compile_environment({"flags": {"f": NO_ENABLED}}, strict=True)
    d = env.evaluate("f", Context.from_mapping({"targetingKey": "u-1"}), None)
    assert (d.value, d.variant, d.reason) == (True, "on", Reason.STATIC)


def test_a_flags_file_without_enabled_means_on_and_plan_says_so() -> None:
    f = parse({"project": "shop", "environment": "dev", "flags": {"f": NO_ENABLED}},
              source="f.yaml")
    assert f.flags["f"]["enabled"] is True
    new = build_plan(f, RemoteState("shop", "dev"))
    text = render(new, source="f.yaml")
    assert "+ flag f (boolean, enabled)" in text
    # Leaving it out is what turns the flag on: a warning (apply then needs a yes).
    (warning,) = [w for w in new.warnings if w.code == "enabled_absent"]
    assert warning.path == "flags.f.enabled"
    assert "absent, which means on: this plan turns the flag on" in warning.message
    # A server flag that is off: the plan turns it on, and says so in the diff too.
    remote = RemoteState("shop", "dev")
    remote.flags["f"] = RemoteFlag(
        "f", {"kind": "boolean", "variations": {"on": True, "off": False}}, 1,
        {"enabled": False, "off_variation": "off", "default": {"variation": "on"}}, 2)
    flip = build_plan(f, remote)
    (change,) = flip.changes
    assert change.lines() == ["enabled: false -> true"]
    assert [w.code for w in flip.warnings] == ["enabled_absent"]
    # Already on: nothing to change and nothing to warn about.
    remote.flags["f"].configuration["enabled"] = True
    same = build_plan(f, remote)
    assert same.in_sync
    assert same.warnings == []
