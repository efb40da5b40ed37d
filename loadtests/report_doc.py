"""Turn a results dict (from ``loadtests.report``) into ``docs/performance.md`` + PNG plots.

Pure formatting: every number printed comes from the results dict it is given; a missing
or failed section is printed as "not measured" with the reason, never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on build machines; must precede pyplot
import matplotlib.pyplot as plt


def fmt(value: Any) -> str:
    """A number formatted for a table cell (thousands separators, few decimals)."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings/lists as ``(dotted.path, scalar)`` pairs, in order."""
    if isinstance(data, Mapping):
        pairs: list[tuple[str, Any]] = []
        for key, value in data.items():
            pairs += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(data, list) and all(not isinstance(v, (Mapping, list)) for v in data):
        return [(prefix, ", ".join(fmt(v) for v in data))]
    if isinstance(data, list):
        pairs = []
        for i, value in enumerate(data):
            pairs += flatten(value, f"{prefix}[{i}]")
        return pairs
    return [(prefix, data)]


def failed(section: Any) -> str | None:
    """The failure reason of a results section, or None if it holds data."""
    if section is None:
        return "not run"
    if isinstance(section, Mapping) and "error" in section:
        return str(section["error"])
    return None


# ----------------------------------------------------------------------------- plots


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(runs: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Grouped bars: p50/p90/p99 (ms) of each load run."""
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = ("p50", "p90", "p99")
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        xs = [i + j * width for i in range(len(runs))]
        ax.bar(xs, [float(r["latency_ms"].get(key, 0)) for r in runs], width, label=key)
    ax.set_xticks([i + width for i in range(len(runs))])
    ax.set_xticklabels([str(r["label"]) for r in runs], rotation=20, ha="right", fontsize=8)
    ax.axhline(50, color="red", linestyle="--", linewidth=1, label="50 ms target")
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def plot_throughput(series: Mapping[str, Sequence[Mapping[str, Any]]], path: Path,
                    title: str) -> Path:
    """Requests/s (left) and p99 (right) against concurrency, one line per series."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, runs in series.items():
        xs = [int(r["concurrency"]) for r in runs]
        left.plot(xs, [float(r["requests_per_s"]) for r in runs], marker="o", label=name)
        right.plot(xs, [float(r["latency_ms"].get("p99", 0)) for r in runs], marker="o",
                   label=name)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections")
    left.set_ylabel("requests/s")
    right.set_ylabel("p99 latency (ms)")
    right.axhline(50, color="red", linestyle="--", linewidth=1)
    left.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_scaling(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Bundle size and load/compile/encrypt time against flag count (log-log)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    xs = [int(r["flags"]) for r in rows]
    left.plot(xs, [r["bundle_bytes"] / 1e6 for r in rows], marker="o", label="encrypted bundle")
    left.set_ylabel("MB")
    left.set_title("bundle size")
    for key, label in (("compile_cpu_s", "compile (CPU)"),
                       ("load_cpu_s", "decrypt+decode+compile (CPU)"),
                       ("build_encode_cpu_s", "build+encode (CPU)"),
                       ("encrypt_s", "encrypt (wall)")):
        right.plot(xs, [max(float(r[key]), 1e-4) for r in rows], marker="o", label=label)
    right.set_ylabel("seconds")
    right.set_title("time")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("flags")
    return _save(fig, path)


def plot_memory(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Reader RSS growth to load N flags: the peak while loading, and what stays held."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    xs = [int(r["flags"]) for r in rows]
    ax.plot(xs, [float(r["rss_peak_load_mb"]) for r in rows], marker="o", label="peak")
    if all("rss_held_mb" in r for r in rows):
        ax.plot(xs, [max(float(r["rss_held_mb"]), 0.1) for r in rows], marker="s",
                label="held after load")
    ax.axhline(50, color="red", linestyle="--", linewidth=1, label="50 MB (10k-flag goal)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("flags")
    ax.set_ylabel("MB")
    ax.set_title("reader memory to load a bundle")
    ax.legend(fontsize=8)
    return _save(fig, path)
