"""Flags files (``vexil plan``'s local check) take issue 17's format additions as they are
and report their mistakes with file paths, like every other field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vexil.errors import VexilError
from vexil.flagsfile import load
from vexil.plancheck import check, check_offline
from vexil.remote import RemoteState

GOOD = """\
project: shop
environment: staging
flags:
  parent:
    kind: boolean
    variations: {on: true, off: false}
    enabled: true
    default: {variation: on}
  checkout:
    kind: boolean
    variations: {on: true, off: false}
    enabled: true
    off_variation: off
    prerequisites:
      - {flag: parent, variations: [on, off]}
      - {flag: parent, off: true, negate: true}
    rules:
      - clauses:
          - any:
              - {attribute: country, op: in, values: [de], case_insensitive: true}
              - not: {attribute: plan, op: in, values: [free]}
          - {attribute: tier, op: not_in, values: [gold], when_absent: true}
          - {now: true, op: after, values: ["2026-01-01T00:00:00Z"]}
        serve: {variation: on}
"""


def _load(tmp_path: Path, text: str) -> object:
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    return load(str(p))


def test_a_flags_file_using_every_addition_checks_clean(tmp_path: Path) -> None:
    desired = _load(tmp_path, GOOD)
    errors, _ = check(desired, RemoteState("shop", "staging"))  # type: ignore[arg-type]
    assert errors == []
    check_offline(desired, echo=print)  # type: ignore[arg-type]


def test_mistakes_in_additions_are_errors_with_paths(tmp_path: Path) -> None:
    bad = GOOD.replace("case_insensitive: true", "case_insensitive: yes-please").replace(
        "op: after", "op: matches_glob")
    echoed: list[str] = []
    with pytest.raises(VexilError, match="2 errors in the file"):
        check_offline(_load(tmp_path, bad), echo=echoed.append)  # type: ignore[arg-type]
    text = "\n".join(echoed)
    assert "flags.checkout.rules[0].clauses[0].any[0].case_insensitive" in text
    assert "flags.checkout.rules[0].clauses[2].op" in text
