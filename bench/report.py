"""Render bench results (bench/results/<date>.json) into docs/performance.md and its chart(s) under docs/images/.

    .venv/bin/python bench/report.py bench/results/2026-11-23.json [--docs DIR]

re-renders from a saved results file without running anything; bench/readers.py calls `render()` after a run.

docs/performance.md is partly hand-written. Only the text between `<!-- bench:NAME:begin -->` and
`<!-- bench:NAME:end -->` is generated, for each section NAME registered here (with `@section`) whose data the
results hold; everything else on the page is kept as it is. A registered section missing from the page is added
at its end under its title (move the markers anywhere afterwards). If the page does not exist it is created from
`NEW_PAGE`, the hand-written introduction.

To render another part of the results (say `pipeline`, written into the same JSON by another bench script):

    @section("pipeline", "Pipeline", needs="pipeline")
    def pipeline(results: dict[str, Any], docs: Path) -> Rendered:
        return Rendered("| ... |")  # markdown, and the images it wrote under docs/images/ (linked from it)

Charts are PNGs without timestamps or version strings in their metadata: the same results give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGE = "performance.md"
READERS_CHART = "images/performance.png"
READERS = ("library", "streamer", "zongji", "mariadb_binlog")
LABELS = {"library": "library", "streamer": "streamer", "zongji": "zongji", "mariadb_binlog": "mariadb-binlog"}
SHORT = {"library": "lib", "streamer": "str", "zongji": "zj", "mariadb_binlog": "mdb"}
COLOURS = {"library": "#8da0cb", "streamer": "#e7298a", "zongji": "#66a61e", "mariadb_binlog": "#7f7f7f"}
DESCRIPTIONS = {
    "narrow": "6 columns: INT key, VARCHAR, BIGINT, DECIMAL, DATETIME(3), DOUBLE",
    "wide": "30 columns: integers of every size, strings, TEXT, DECIMALs, temporals, ENUM, SET, BLOB; some NULLs",
    "json_heavy": "an INT key, a ~1.5 KB JSON document and three small columns",
}


@dataclass(frozen=True)
class Rendered:
    markdown: str  # what goes between the section's markers
    images: tuple[Path, ...] = ()  # the files it wrote (docs/images/...), linked from the markdown


Renderer = Callable[[dict[str, Any], Path], Rendered]


@dataclass(frozen=True)
class Section:
    name: str
    title: str  # the heading when the section is appended to a page that lacks its markers
    needs: str | None  # the results key it renders; None: always
    render: Renderer


SECTIONS: dict[str, Section] = {}


def section(name: str, title: str, needs: str | None = None) -> Callable[[Renderer], Renderer]:
    """Register a generated section of docs/performance.md (see the module docstring)."""

    def register(function: Renderer) -> Renderer:
        SECTIONS[name] = Section(name, title, needs, function)
        return function

    return register


NEW_PAGE = """\
# Performance

How fast the streamer reads a binlog, next to other binlog readers reading the same binlog on the same machine.

The figures on this page are generated. `make bench` runs `bench/readers.py` (and the other scripts in `bench/`);
it writes `bench/results/<date>.json` and rewrites the parts of this page between `<!-- bench:...:begin -->` and
`<!-- bench:...:end -->` markers; the rest of the page is written by hand and kept. To re-render the page from a
saved results file without running anything: `.venv/bin/python bench/report.py bench/results/<date>.json`.

## What is measured

`bench/readers.py` starts a private MariaDB (ROW format, FULL row image and row metadata), writes nine binlog
segments, one binlog file each, and lets every reader read every segment from its first to its last position:

- three tables: `narrow` (6 columns), `wide` (30 columns of mixed types, some NULLs) and `json_heavy` (a ~1.5 KB
  nested JSON document per row);
- three transaction sizes: 1, 50 and 1,000 rows per transaction;
- each segment holds N inserts, then N updates of those rows (a few columns each), then N deletes: 3N row changes.
  The values are generated from a fixed seed, so every run writes the same binlog.

The readers, each run in a process of its own:

- **library**: the plain [python-mysql-replication](https://github.com/julien-duponchelle/python-mysql-replication)
  loop (`BinLogStreamReader` over the replication protocol, `for row in event.rows`, counting): the library the
  streamer is built on, with nothing of ours;
- **streamer**: `cdc-streamer run --sink file --start-position ... --end-position ...`: the real command, decoding,
  converting and writing Maxwell JSON lines to a file;
- **zongji**: [`@vlasky/zongji`](https://github.com/vlasky/zongji) 0.9.0 on Node.js over the replication protocol,
  counting the decoded rows;
- **mariadb-binlog**: `mariadb-binlog --base64-output=DECODE-ROWS -v` on the binlog file itself (no network), its
  text thrown away: the server's own C++ decoder, a ceiling rather than a competitor.

Every reader must report exactly the segment's row changes (the streamer per type: inserts, updates, deletes), or
the benchmark fails. Figures per reader and segment, over the runs (3 by default, the readers taking turns):

- **rows/s**: row changes / wall seconds of the reader's process, from its start to its exit: interpreter
  start-up, imports and connecting are included, so the smaller segments weigh start-up more. Each reader's
  start-up time (reading a segment of one row inserted, updated and deleted) is measured too, and the last table
  subtracts it: the speed once started;
- **CPU s**: user + system seconds of the reader's process (median); the server's work is not included;
- **peak RSS**: the process's `ru_maxrss` (max over the runs); figures at the floor (~11 MiB, the helper process
  that starts the readers) mean "this or less".

The machine is small and shared (2 cores, with the server on the same cores), so compare ratios rather than
absolute figures, and expect a few percent of noise between runs.

To run it: `make bench` (all the benchmarks, about 10 minutes), or only this one with
`.venv/bin/python bench/readers.py [--runs 3] [--scale 1.0]`; `--scale 0.3 --runs 1` is a quick look.
Node.js and npm are needed for zongji (installed under `build/bench-node/` by the script; skipped without them).

## Machine

<!-- bench:machine:begin -->
<!-- bench:machine:end -->

## Binlog readers

<!-- bench:readers:begin -->
<!-- bench:readers:end -->
"""


# ------------------------------------------------------------------------------------------------ formatting


def thousands(value: float) -> str:
    return f"{value:,.0f}"


def machine_line(machine: dict[str, Any]) -> str:
    memory = machine.get("memory_gib")
    parts = [
        str(machine.get("cpu", "unknown CPU")),
        f"{machine.get('cores', '?')} cores",
        f"{memory:g} GiB RAM" if isinstance(memory, int | float) else None,
        machine.get("os"),
        f"Python {machine['python']}" if machine.get("python") else None,
        f"Node.js {machine['node']}" if machine.get("node") else None,
        f"MariaDB {machine['mariadb']}" if machine.get("mariadb") else None,
        "compiled decoder: " + ("yes" if machine.get("compiled_decoder") else "no (pure Python)"),
    ]
    return ", ".join(str(part) for part in parts if part)


@section("machine", "Machine", needs="machine")
def machine_section(results: dict[str, Any], docs: Path) -> Rendered:
    machine: dict[str, Any] = results["machine"]
    lines = [f"{machine_line(machine)}; results of {results.get('date', '?')}."]
    versions = {name: value for name, value in (machine.get("versions") or {}).items() if value}
    if versions:
        lines += ["", "Reader versions: " + "; ".join(f"{name} {value}" for name, value in versions.items()) + "."]
    return Rendered("\n".join(lines))


def rate_cell(result: dict[str, Any]) -> str:
    if "rows_per_s" not in result:
        return "skipped" if "skipped" in result else "-"
    rate = result["rows_per_s"]
    return f"{thousands(rate['median'])} ({thousands(rate['min'])})"


def ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def present_readers(segments: list[dict[str, Any]]) -> list[str]:
    return [reader for reader in READERS if any(reader in seg["results"] for seg in segments)]


def skipped_readers(segments: list[dict[str, Any]]) -> dict[str, str]:
    skipped: dict[str, str] = {}
    for seg in segments:
        for reader, result in seg["results"].items():
            if "skipped" in result:
                skipped.setdefault(reader, str(result["skipped"]))
    return skipped


def readers_table(segments: list[dict[str, Any]], readers: list[str]) -> list[str]:
    others = [reader for reader in readers if reader != "streamer"]
    measured = [reader for reader in readers if any("rows_per_s" in seg["results"].get(reader, {}) for seg in segments)]
    short = "/".join(SHORT.get(reader, reader) for reader in measured)
    header = [
        "rows/txn",
        "row changes",
        "binlog MiB",
        *(f"{LABELS[reader]} rows/s" for reader in readers),
        *(f"streamer / {LABELS[reader]}" for reader in others),
        f"CPU s ({short})",
        f"peak RSS MiB ({short})",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    for seg in sorted(segments, key=lambda seg: int(seg["rows_per_txn"])):
        results = seg["results"]
        row = [
            f"{seg['rows_per_txn']:,}",
            f"{seg['row_changes']:,}",
            f"{seg['binlog_bytes'] / 2**20:.1f}",
            *(rate_cell(results.get(reader, {})) for reader in readers),
            *(ratio_cell(seg.get("ratios", {}).get(f"streamer/{reader}")) for reader in others),
            " / ".join(f"{results.get(reader, {}).get('cpu_seconds', 0):.2f}" for reader in measured),
            " / ".join(f"{results.get(reader, {}).get('peak_rss_mib', 0):.0f}" for reader in measured),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


@section("readers", "Binlog readers", needs="readers")
def readers_section(results: dict[str, Any], docs: Path) -> Rendered:
    data: dict[str, Any] = results["readers"]
    segments: list[dict[str, Any]] = data["segments"]
    readers = present_readers(segments)
    chart = write_readers_chart(segments, readers, docs / READERS_CHART)
    lines = [
        f"Results of {results.get('date', '?')}, `{data.get('command', 'make bench')}`: "
        f"{plural(data.get('runs', '?'), 'run')} of each reader on each segment"
        + (f", whole script {data['wall_seconds']:.0f} s" if "wall_seconds" in data else "")
        + f". Machine: {machine_line(results.get('machine', {}))}."
        + source_note(data.get("source", {})),
        "",
        f"![Median rows/s of each reader on each segment]({chart.relative_to(docs).as_posix()})",
        "",
        "rows/s: median (slowest run in brackets), wall clock of the reader's own process, start-up included. "
        "streamer / X: the streamer's median rows/s divided by X's (above 1: the streamer is faster). "
        "CPU s: median user + system seconds of the reader's process; peak RSS: the highest of the runs.",
    ]
    startup: dict[str, Any] = data.get("startup", {}).get("results", {})
    if startup:
        lines += [
            "",
            "Start-up, the median wall time to read a segment of 3 row changes (process start, imports, "
            "connecting, exit): "
            + ", ".join(f"{LABELS.get(r, r)} {figures['seconds']['median']:.2f} s" for r, figures in startup.items())
            + ". The last table subtracts it.",
        ]
    floor = data.get("rss_floor_mib")
    if floor:
        lines += ["", f"Peak RSS cannot be measured below {floor:g} MiB (the helper process that starts the readers)."]
    for reader, why in skipped_readers(segments).items():
        lines += ["", f"{LABELS.get(reader, reader)} was skipped: {why}."]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for seg in segments:
        by_table.setdefault(str(seg["table"]), []).append(seg)
    for table, group in by_table.items():
        description = DESCRIPTIONS.get(table, f"{group[0].get('columns', '?')} columns")
        lines += ["", f"### `{table}` ({description})", "", *readers_table(group, readers)]
    if any("rows_per_s_after_startup" in result for seg in segments for result in seg["results"].values()):
        lines += ["", "### Once started", "", *after_startup_table(segments, readers, startup)]
    return Rendered("\n".join(lines), (chart,))


def source_note(source: dict[str, Any]) -> str:
    if not source.get("commit"):
        return ""
    note = f" Streamer code: commit {str(source['commit'])[:10]}"
    if source.get("cdc_streamer_modified"):
        note += " with uncommitted changes in cdc_streamer/"
    if source.get("changed_during_run"):
        note += " (changed during the run: the streamer's figures mix two versions)"
    return note + "."


def startup_share(seg: dict[str, Any], startup: dict[str, Any], reader: str) -> float:
    """The reader's median start-up seconds over its median wall seconds on this segment."""
    seconds = seg["results"].get(reader, {}).get("seconds", {}).get("median")
    started = startup.get(reader, {}).get("seconds", {}).get("median")
    return float(started) / float(seconds) if seconds and started is not None else 0.0


def plural(count: object, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def after_startup_table(segments: list[dict[str, Any]], readers: list[str], startup: dict[str, Any]) -> list[str]:
    """Rows/s from the median wall time less each reader's median start-up: the steady decoding speed. Marked ~
    where the start-up is over half the wall time: a small difference of two noisy figures."""
    measured = [reader for reader in readers if any("rows_per_s" in seg["results"].get(reader, {}) for seg in segments)]
    others = [reader for reader in measured if reader != "streamer"]
    header = [
        "segment",
        *(f"{LABELS[reader]} rows/s" for reader in measured),
        *(f"streamer / {LABELS[reader]}" for reader in others),
    ]
    lines = [
        "rows/s once started: row changes / (median wall seconds - median start-up seconds); ~: the start-up is "
        "over half of the wall time there, so the figure is rough.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "|".join("---:" for _ in header[1:]) + "|",
    ]
    for seg in segments:
        rates = {reader: seg["results"].get(reader, {}).get("rows_per_s_after_startup") for reader in measured}
        ours = rates.get("streamer")
        rough = {reader: startup_share(seg, startup, reader) > 0.5 for reader in measured}
        row = [
            f"{seg['table']} {seg['rows_per_txn']:,}/txn",
            *(
                "-" if rates[reader] is None else ("~" if rough[reader] else "") + thousands(rates[reader])
                for reader in measured
            ),
            *("-" if not ours or not rates[reader] else f"{ours / rates[reader]:.2f}" for reader in others),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


# ------------------------------------------------------------------------------------------------------ chart


def write_readers_chart(segments: list[dict[str, Any]], readers: list[str], path: Path) -> Path:
    """Grouped bars: median rows/s of each reader for each segment (log scale when the bars span > 30x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotted = [reader for reader in readers if any("rows_per_s" in seg["results"].get(reader, {}) for seg in segments)]
    labels = [f"{seg['table']}\n{seg['rows_per_txn']:,}/txn" for seg in segments]
    width = 0.8 / max(1, len(plotted))
    values = [
        seg["results"][reader]["rows_per_s"]["median"]
        for seg in segments
        for reader in plotted
        if "rows_per_s" in seg["results"].get(reader, {})
    ]
    with plt.rc_context({"font.size": 9, "svg.hashsalt": "bench", "path.simplify": False}):
        figure, axes = plt.subplots(figsize=(11, 4.8), dpi=100)
        for index, reader in enumerate(plotted):
            xs = [i + (index - (len(plotted) - 1) / 2) * width for i in range(len(segments))]
            heights = [seg["results"].get(reader, {}).get("rows_per_s", {}).get("median", 0) for seg in segments]
            axes.bar(xs, heights, width, label=LABELS[reader], color=COLOURS.get(reader))
        axes.set_xticks(range(len(segments)), labels)
        if values and max(values) / max(1.0, min(values)) > 30:
            axes.set_yscale("log")
            axes.set_ylabel("rows/s (median, log scale)")
        else:
            axes.set_ylabel("rows/s (median)")
        axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:,.0f}"))
        axes.set_title("Binlog readers on the same binlog: row changes per second (higher is better)")
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=len(plotted), frameon=False)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", metadata={"Software": None})
        plt.close(figure)
    return path


# ---------------------------------------------------------------------------------------- targets and pipeline


def segment(results: dict[str, Any], table: str, rows_per_txn: int) -> dict[str, Any] | None:
    for seg in (results.get("readers") or {}).get("segments", []):
        if seg["table"] == table and seg["rows_per_txn"] == rows_per_txn:
            return dict(seg)
    return None


def steady_ratio(seg: dict[str, Any] | None, other: str) -> float | None:
    """The streamer's rows/s once started over another reader's (see the readers section)."""
    if seg is None:
        return None
    ours = seg["results"].get("streamer", {}).get("rows_per_s_after_startup")
    theirs = seg["results"].get(other, {}).get("rows_per_s_after_startup")
    return ours / theirs if ours and theirs else None


def verdict(value: float | None, target: float, *, below: bool = False) -> str:
    if value is None:
        return "not measured"
    return "met" if (value < target if below else value >= target) else "**not met**"


@section("targets", "Targets", needs="readers")
def targets_section(results: dict[str, Any], docs: Path) -> Rendered:
    """The issue's targets, each next to the measured figure it is judged on."""
    narrow, wide = segment(results, "narrow", 1000), segment(results, "wide", 1000)
    json_heavy = segment(results, "json_heavy", 1000)
    big = results.get("big_transaction") or {}
    latency = results.get("latency") or {}
    rows: list[tuple[str, str, str]] = []
    for name, seg in (("6-column", narrow), ("30-column", wide)):
        ratio = steady_ratio(seg, "library")
        rows.append((f"streamer / library >= 3.0, {name} table (1,000 rows/txn)",
                     "-" if ratio is None else f"{ratio:.2f}", verdict(ratio, 3.0)))  # fmt: skip
    ratio = steady_ratio(json_heavy, "library")
    rows.append(("JSON-heavy table: no regression (streamer / library was 0.29 with the library decoder)",
                 "-" if ratio is None else f"{ratio:.2f}", verdict(ratio, 0.29)))  # fmt: skip
    ratio = steady_ratio(narrow, "zongji")
    rows.append(("goal: streamer / zongji >= 1.0, 6-column table (1,000 rows/txn)",
                 "-" if ratio is None else f"{ratio:.2f}", verdict(ratio, 1.0)))  # fmt: skip
    file_run = big.get("file") or {}
    rss = file_run.get("peak_rss_mb")
    rows.append((f"one transaction of {big.get('rows', 1_000_000):,} rows: peak RSS < 300 MB (`--sink file`)",
                 "-" if rss is None else f"{rss:,.0f} MB", verdict(rss, 300, below=True)))  # fmt: skip
    p95 = latency.get("p95_seconds")
    rows.append(("commit -> visible in `_live`, p95 < 2 s with a 1 s buffer",
                 "-" if p95 is None else f"{p95:.2f} s", verdict(p95, 2.0, below=True)))  # fmt: skip
    lines = [
        "Judged on the figures below: the reader ratios on rows/s once started (the start-up of each process taken "
        "out, the speed of a streamer that runs for days), 1,000 rows per transaction.",
        "",
        "| target | measured | |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {status} |" for name, value, status in rows),
    ]
    return Rendered("\n".join(lines))


@section("big_transaction", "One large transaction", needs="big_transaction")
def big_transaction_section(results: dict[str, Any], docs: Path) -> Rendered:
    big = results["big_transaction"]
    lines = [
        f"`.venv/bin/python bench/big_transaction.py`: one `INSERT ... SELECT` of {big['rows']:,} rows (the 6-column "
        "table) in one transaction, streamed from its start to its end by the real command, as a process of its own.",
        "",
        "| step | seconds | rows/s | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    labels = {"file": "`cdc-streamer run --sink file`", "lake": "`cdc-streamer run --sink lake`"}
    for key, label in labels.items():
        if key in big:
            run = big[key]
            lines.append(f"| {label} | {run['seconds']:.1f} | {thousands(run['rows_per_s'])} | "
                         f"{run['cpu_seconds']:.1f} | {run['peak_rss_mb']:,.0f} |")  # fmt: skip
    return Rendered("\n".join(lines))


@section("latency", "Commit to query", needs="latency")
def latency_section(results: dict[str, Any], docs: Path) -> Rendered:
    latency = results["latency"]
    lines = [
        f"`.venv/bin/python bench/latency.py`: `cdc-streamer run --sink lake --lake-buffer-seconds "
        f"{latency['buffer_seconds']:g}` for {latency['seconds']:g} s while a workload writes "
        f"{latency['workload_rows']:,} rows ({latency['workload_rows_per_second']:g} rows/s in 10-row "
        f"transactions); a marker row every {latency['marker_interval_seconds']:g} s is timed from its commit to "
        "the first DuckDB query of its table's `_live` view that returns it (polled every 50 ms).",
        "",
        "| markers | not seen | p50 | p95 | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {latency['markers']} | {latency['markers_not_seen']} | {latency['p50_seconds']:.2f} s | "
        f"{latency['p95_seconds']:.2f} s | {latency['max_seconds']:.2f} s |",
    ]
    return Rendered("\n".join(lines))


@section("pipeline", "The rest of the pipeline", needs="merge")
def pipeline_section(results: dict[str, Any], docs: Path) -> Rendered:
    lines = [
        "| step | what | events/s | |",
        "|---|---|---:|---|",
    ]
    for variant in results.get("transform") or []:
        lines.append(f"| (d) Firehose transform | `bench/transform.py`: {variant['variant']}, "
                     f"{variant['records']:,} records of ~{variant['event_bytes']} B in batches of {variant['batch']}, "
                     f"one core | {thousands(variant['records_per_s_median'])} | "
                     f"median of {variant['runs']} |")  # fmt: skip
    deliver = (results.get("big_transaction") or {}).get("deliver")
    if deliver:
        lines.append(f"| (e) local delivery | `cdc-lake deliver --from-file` of the big transaction's first events "
                     f"into Parquet (`bench/big_transaction.py`) | {thousands(deliver['rows_per_s'])} | "
                     f"peak RSS {deliver['peak_rss_mb']:,.0f} MB |")  # fmt: skip
    for step in results["merge"]["steps"]:
        lines.append(f"| (f) merge | `bench/merge.py`: {step['label']} | {thousands(step['events_per_s_median'])} "
                     f"| {step['seconds_median']:.1f} s |")  # fmt: skip
    return Rendered("\n".join(lines))


# ------------------------------------------------------------------------------------------------------- page


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def replace_section(page: str, name: str, title: str, body: str) -> str:
    begin, end = markers(name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    block = f"{begin}\n{body.strip()}\n{end}"
    if pattern.search(page):
        return pattern.sub(lambda _: block, page, count=1)
    return page.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"


def render(results: dict[str, Any], docs: Path) -> list[Path]:
    """Rewrite the generated sections of docs/performance.md (and their images) from `results`; the files written."""
    page_path = docs / PAGE
    page = page_path.read_text(encoding="utf-8") if page_path.exists() else NEW_PAGE
    written: list[Path] = []
    for spec in SECTIONS.values():
        if spec.needs is not None and spec.needs not in results:
            continue
        rendered = spec.render(results, docs)
        page = replace_section(page, spec.name, spec.title, rendered.markdown)
        written += rendered.images
    docs.mkdir(parents=True, exist_ok=True)
    page_path.write_text(page, encoding="utf-8")
    return [page_path, *written]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("results", type=Path, help="a bench/results/<date>.json")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"report.py: cannot read {args.results}: {error}", file=sys.stderr)
        return 1
    if not isinstance(results, dict):
        print(f"report.py: {args.results} does not hold a JSON object", file=sys.stderr)
        return 1
    for path in render(results, args.docs):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
