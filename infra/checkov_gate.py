"""Judge a checkov JSON report: fail on any failed check, parsing error or empty scan.

checkov exits 0 when it cannot parse a file (it reports ``parsing_errors`` and scans
nothing), and its ``--hard-fail-on-parsing-errors`` option does not exist (checkov issue
#5248), so ``infra/checks.sh`` runs checkov with ``-o json`` and this gate decides.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _reports(data: Any) -> list[dict[str, Any]]:
    return [r for r in (data if isinstance(data, list) else [data]) if isinstance(r, dict)]


def judge(data: Any, min_resources: int = 1) -> tuple[bool, list[str]]:
    """Return (ok, lines to print) for a parsed checkov ``-o json`` report."""
    lines: list[str] = []
    ok = True
    reports = _reports(data)
    passed = failed = skipped = parsing = resources = 0
    for report in reports:
        summary = report.get("summary", report)
        passed += int(summary.get("passed", 0))
        failed += int(summary.get("failed", 0))
        skipped += int(summary.get("skipped", 0))
        parsing += int(summary.get("parsing_errors", 0))
        resources += int(summary.get("resource_count", 0))
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            lines.append(
                f"FAILED {check.get('check_id')} {check.get('resource')} "
                f"({check.get('file_path')}): {check.get('check_name')}"
            )
        for check in results.get("skipped_checks", []):
            comment = (check.get("check_result") or {}).get("suppress_comment", "")
            if not comment or comment == "No comment provided":
                ok = False
                lines.append(f"UNJUSTIFIED SKIP {check.get('check_id')} {check.get('resource')}")
        for path in results.get("parsing_errors", []):
            lines.append(f"PARSING ERROR {path}")
    lines.append(
        f"checkov: passed={passed} failed={failed} skipped={skipped} "
        f"parsing_errors={parsing} resources={resources}"
    )
    if failed or parsing:
        ok = False
    if resources < min_resources:
        ok = False
        lines.append(f"checkov scanned {resources} resources (expected at least {min_resources})")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.checkov_gate REPORT.json [MIN_RESOURCES]``; exit 1 unless clean."""
    args = sys.argv[1:] if argv is None else argv
    data = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    ok, lines = judge(data, int(args[1]) if len(args) > 1 else 1)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
