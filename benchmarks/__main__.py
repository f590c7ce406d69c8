"""``python -m benchmarks [--quick] [--only N ...] [--output DIR]``

The full run writes benchmarks/results.json and docs/performance.md. The quick
run (tiny sizes, for CI, so this code cannot rot) asserts nothing about
timings and writes to a temporary folder unless --output is given.
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from benchmarks.measure import Figure, machine
from benchmarks.suites import FULL, QUICK, SUITES, Sizes

ROOT = Path(__file__).resolve().parent.parent


def targets(figures: list[Figure], sizes: Sizes) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each of the issue's targets."""
    by_name = {f.name: f for f in figures}

    def ratio(name: str) -> float | None:
        figure = by_name.get(name)
        return (
            None if figure is None else figure.ratio if figure.ratio is not None else figure.value
        )

    rows: list[tuple[str, str, bool | None]] = []

    def check(target: str, value: float | None, ok: Callable[[float], bool], shown: str) -> None:
        if value is None:
            rows.append((target, NOT_MEASURED, None))
        else:
            rows.append((target, shown.format(value), ok(value)))

    check(
        "(1) at least 8x DBOS's sequential step throughput",
        ratio("wio on PostgreSQL vs DBOS"),
        lambda v: v >= 8,
        "{:.1f}x",
    )
    check(
        "(1) at least 70% of raw with one round trip per event (autocommit INSERT)",
        ratio("wio on PostgreSQL vs raw, 1 round trip"),
        lambda v: v >= 0.7,
        "{:.0%} of raw",
    )
    check(
        "(2) at least 10x DBOS's queue throughput, 10-step instances",
        ratio("wio events vs DBOS"),
        lambda v: v >= 10,
        "{:.1f}x",
    )
    check(
        "(2) at least 50% of raw batched inserts at 10 per commit",
        ratio("wio events vs raw batched by 10"),
        lambda v: v >= 0.5,
        "{:.0%} of raw",
    )
    few, many = sizes.backlog[0], sizes.backlog[-1]
    check(
        f"(9) claim latency at a backlog of {many:,} / at {few:,}: at most 1.5",
        ratio(f"claim with a backlog of {many:,}"),
        lambda v: v <= 1.5,
        "{:.2f}",
    )
    for count in sizes.replay:
        check(
            f"(3) at least 60% of raw SELECT-and-decode, {count:,} events",
            ratio(f"wio rebuilds {count:,} events vs raw"),
            lambda v: v >= 0.6,
            "{:.0%} of raw",
        )
        # Our own, stricter reading: the raw side decoding with msgspec, as wio does.
        check(
            f"(3) at least 60% of raw SELECT-and-decode with msgspec, {count:,} events",
            ratio(f"wio rebuilds {count:,} events vs raw with msgspec"),
            lambda v: v >= 0.6,
            "{:.0%} of raw",
        )
    small, big = sizes.history[0], sizes.history[-1]
    for what in ("step", "signal"):
        check(
            f"(4) {what} latency({big:,}) / latency({small:,}) at most 1.5",
            ratio(f"one {what} with {big:,} events before it"),
            lambda v: v <= 1.5,
            "{:.2f}",
        )
    large, smaller = sizes.nodes[-1], sizes.nodes[-2]
    limit = 1.1 * large / smaller  # linear, with 10% to spare (11 for 100k / 10k)
    for kind in ("run", "replay"):
        check(
            f"(5) {kind}: time({large:,}) / time({smaller:,}) at most {limit:g}",
            ratio(f"{kind}: time({large:,}) / time({smaller:,})"),
            partial(operator.ge, limit),
            "{:.2f}",
        )

    def value(name: str) -> float | None:
        figure = by_name.get(name)
        return None if figure is None else figure.value

    # Our own bar, not the issue's: a loop's replay stays O(events), so its rate
    # holds from the smaller size to the larger one.
    small_loop = value(f"replay: loop of {smaller:,} iterations")
    large_loop = value(f"replay: loop of {large:,} iterations")
    check(
        f"(7) loop replay rate at {large:,} iterations / at {smaller:,}: at least 0.7",
        None if small_loop is None or large_loop is None else large_loop / small_loop,
        lambda v: v >= 0.7,
        "{:.2f}",
    )
    # Our own bar: per-event cost flat in the number of elements. Each element also
    # costs its entry and completion, a constant per element that the largest section
    # (one event per element) pays on every event, so its raw rate may be lower
    # (at least 0.4); the marginal rate, with those costs taken out, is flat (0.8).
    fewest, most = sizes.elements[0], sizes.elements[-1]
    for kind in ("run", "replay"):
        check(
            f"(8) for-each {kind} rate at {most:,} elements / at {fewest:,}: at least 0.4",
            value(f"{kind} rate at {most:,} elements / at {fewest:,}"),
            lambda v: v >= 0.4,
            "{:.2f}",
        )
        check(
            f"(8) for-each {kind} marginal rate at {most:,} elements / at {fewest:,}: at least 0.8",
            value(f"{kind} marginal rate at {most:,} elements / at {fewest:,}"),
            lambda v: v >= 0.8,
            "{:.2f}",
        )

    check(
        f"(13) {sizes.timers:,} due timers fire at at least 60% of raw INSERT+COMMIT",
        ratio("wio fires timers vs raw"),
        lambda v: v >= 0.6,
        "{:.0%} of raw",
    )
    check(
        "(14) stretch: at least 900 one-step durable workflows/s, creation included",
        value("wio one-step workflows vs raw commits"),
        lambda v: v >= 900,
        "{:,.0f}/s",
    )
    sections = sizes.shielded[0]
    check(
        "(11) a long checkpointed history rebuilds faster than its sections' events replayed",
        ratio(f"rebuild the same sections, checkpointed (+{sections:,} checkpoint events)"),
        lambda v: v > 1,
        "{:.2f}x",
    )
    slowest = max(
        (f for f in figures if f.benchmark.startswith("12.") and f.ratio is not None),
        key=lambda f: f.value,
        default=None,
    )
    check(
        f"(12) console list page at {sizes.console_instances[-1]:,} instances: under 200 ms",
        None if slowest is None else slowest.value,
        lambda v: v < 200,
        "{:.0f} ms at most" + ("" if slowest is None else f" ({slowest.name})"),
    )
    soak = ROOT / "benchmarks" / "soak.json"  # written by `python -m benchmarks.soak`
    if soak.exists():
        soaked = json.loads(soak.read_text())
        # The backlog shows whether the worker kept up: memory that grows with a
        # backlog is not a leak.
        check(
            f"(6) worker RSS after a {soaked['minutes']:g}-minute soak / after 1 minute: "
            "at most 1.2",
            soaked["rss end / 1 minute"],
            lambda v: v <= 1.2,
            "{:.2f}"
            f" ({soaked['rss kib at 1 minute']:,} to {soaked['rss kib at the end']:,} KiB;"
            f" backlog {soaked['backlog at 1 minute']:,} at 1 minute,"
            f" {soaked['backlog at the end']:,} at the end)",
        )
    else:
        check("(6) worker RSS after a 30-minute soak / after 1 minute: at most 1.2", None,
              lambda v: v <= 1.2, "")  # fmt: skip
    return rows


NOT_MEASURED = "not measured"


def unmeasured(rows: list[tuple[str, str, bool | None]]) -> list[str]:
    """The targets of ``rows`` without a figure: a suite not run, or a figure renamed."""
    return [target for target, measured, _ in rows if measured == NOT_MEASURED]


def markdown(
    figures: list[Figure],
    info: dict[str, object],
    sizes: Sizes,
    quick: bool,
    measured: dict[str, str],
) -> str:
    """docs/performance.md; ``measured`` gives each benchmark's run date (a run with
    --only keeps the other benchmarks' figures, and their dates, from the last run)."""
    lines = [
        "# Performance",
        "",
        "Measured by `python -m benchmarks`"
        + (" --quick (tiny sizes: not meaningful)" if quick else "")
        + ". Each figure is a median over repeated runs. Where the sides of a comparison are timed "
        "in turn, round by round (benchmarks 1, 2, 3 and 13-15), the ratio is the median of the "
        "per-round ratios; otherwise it divides the figure by the baseline measured in the same "
        "run, on the same machine and PostgreSQL server.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key.replace('_', ' ')} | {value} |" for key, value in info.items()),
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target, shown, met in targets(figures, sizes):
        lines.append(
            f"| {target} | {shown} | {'n/a' if met is None else 'yes' if met else '**no**'} |"
        )
    lines += ["", "## Results", ""]
    bench = None
    for f in figures:
        if f.benchmark != bench:
            bench = f.benchmark
            lines += ["", f"### {bench}", ""]
            if bench in measured:
                lines += [f"Measured {measured[bench]}.", ""]
            lines += [
                "| figure | value | baseline | ratio |",
                "|---|---|---|---|",
            ]
        baseline = (
            f"{f.baseline}: {f.baseline_value:,.1f}" if f.baseline and f.baseline_value else ""
        )
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        lines.append(f"| {f.name} | {f.value:,.1f} {f.unit} | {baseline} | {ratio} |")
    findings = ROOT / "benchmarks" / "findings.md"
    if findings.exists():
        lines += ["", findings.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--only", type=int, nargs="*", help="run only these benchmarks (1-12)")
    parser.add_argument("--output", type=Path, help="folder for results.json and performance.md")
    parser.add_argument(
        "--report", action="store_true", help="rewrite docs/performance.md from results.json only"
    )
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads((ROOT / "benchmarks" / "results.json").read_text())
        recorded = [Figure(**f) for f in saved["figures"]]
        sizes = QUICK if saved["quick"] else FULL
        (ROOT / "docs" / "performance.md").write_text(
            markdown(recorded, saved["machine"], sizes, saved["quick"], saved.get("measured", {}))
        )
        return 0
    sizes = QUICK if args.quick else FULL
    figures: list[Figure] = []
    measured: dict[str, str] = {}  # each benchmark's date
    info = machine()
    for number, suite in enumerate(SUITES, start=1):
        if args.only and number not in args.only:
            continue
        started = time.perf_counter()
        results = suite(sizes)
        figures += results
        measured[results[0].benchmark] = datetime.now(UTC).isoformat(timespec="minutes")
        print(f"[{time.perf_counter() - started:6.1f}s] {results[0].benchmark}", file=sys.stderr)
        for f in results:
            ratio = f" (x{f.ratio:.2f} vs {f.baseline})" if f.ratio is not None else ""
            print(f"    {f.name}: {f.value:,.1f} {f.unit}{ratio}", file=sys.stderr)
    if args.output:
        out_json, out_md = args.output / "results.json", args.output / "performance.md"
        args.output.mkdir(parents=True, exist_ok=True)
    elif args.quick:
        folder = Path(tempfile.mkdtemp(prefix="wio-bench-"))
        out_json, out_md = folder / "results.json", folder / "performance.md"
    else:
        out_json, out_md = ROOT / "benchmarks" / "results.json", ROOT / "docs" / "performance.md"
        if args.only and out_json.exists():  # the other benchmarks keep their saved figures
            saved = json.loads(out_json.read_text())
            ran = {f.benchmark for f in figures}
            figures = [Figure(**f) for f in saved["figures"] if f["benchmark"] not in ran] + figures
            kept = saved.get("measured", {})
            measured = {b: kept[b] for b in {f.benchmark for f in figures} - ran if b in kept} | (
                measured
            )
    out_json.write_text(
        json.dumps(
            {
                "machine": info,
                "quick": args.quick,
                "measured": measured,
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
        + "\n"
    )
    out_md.write_text(markdown(figures, info, sizes, args.quick, measured))
    print(f"wrote {out_json} and {out_md}", file=sys.stderr)
    missing = unmeasured(targets(figures, sizes))
    for target in missing:
        print(f"not measured: {target}", file=sys.stderr)
    # A run of every suite that leaves a target unmeasured looks a figure up by a
    # name no suite gives it: fail, so that CI's quick run catches it.
    return 1 if missing and not args.only else 0


if __name__ == "__main__":
    raise SystemExit(main())
