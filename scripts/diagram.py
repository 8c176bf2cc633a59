"""Draw the data-path picture of the README: docs/images/data-path.png (1400x600 px).

    python scripts/diagram.py [--output PATH]

Needs matplotlib (the Agg backend: no display). The output is deterministic for one matplotlib version: fixed
size, the bundled DejaVu Sans font, and no timestamp or software version in the PNG metadata.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "images" / "data-path.png"
WIDTH, HEIGHT, DPI = 1400, 600, 100

# fill, edge
SOURCE = ("#fde9d9", "#c0504d")
COMMAND = ("#dbe8f6", "#2f5f98")
AWS = ("#fff2cc", "#b8860b")
STORAGE = ("#e2f0d9", "#4e8a3e")
QUERY = ("#ece4f4", "#6a4a8c")
LOCAL = ("#f7f7f7", "#7f7f7f")
INK = "#222222"
MUTED = "#555555"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str
    body: str
    colors: tuple[str, str]
    dashed: bool = False

    @property
    def left(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    def at(self, fx: float, fy: float) -> tuple[float, float]:
        """A point by fractions of the box: (0, 0) bottom left, (1, 1) top right."""
        return (self.x + fx * self.w, self.y + fy * self.h)


def draw_box(ax: Axes, box: Box) -> None:
    fill, edge = box.colors
    ax.add_patch(
        FancyBboxPatch(
            (box.x, box.y),
            box.w,
            box.h,
            boxstyle="round,pad=0,rounding_size=10",
            facecolor=fill,
            edgecolor=edge,
            linewidth=1.6,
            linestyle=(0, (5, 3)) if box.dashed else "solid",
        )
    )
    # Measure the title and the body, then centre both together in the box (axes units are pixels here).
    center = box.x + box.w / 2
    title = ax.text(center, 0, box.title, ha="center", va="top", fontsize=11, fontweight="bold", color=INK)
    body = ax.text(center, 0, box.body, ha="center", va="top", fontsize=8, color=MUTED, linespacing=1.3)
    title_height = title.get_window_extent().height
    body_height = body.get_window_extent().height if box.body else 0.0
    gap = 6.0 if box.body else 0.0
    y_top = box.y + box.h / 2 + (title_height + gap + body_height) / 2
    title.set_y(y_top)
    body.set_y(y_top - title_height - gap)


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    *,
    dashed: bool = False,
    label_at: tuple[float, float] | None = None,
    rad: float = 0.0,
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>,head_length=8,head_width=4.5",
            connectionstyle=f"arc3,rad={rad}",
            color="#444444",
            linewidth=1.5,
            linestyle=(0, (4, 3)) if dashed else "solid",
            shrinkA=2,
            shrinkB=2,
            mutation_scale=1,
        )
    )
    if label:
        x, y = label_at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 9)
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="bottom",
            fontsize=8,
            color=INK,
            fontstyle="italic",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )


def draw(output: Path) -> None:
    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "svg.hashsalt": "cdc-pipeline"})
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(fig)  # attaches itself to the figure: text is measured and saved by Agg
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(0, HEIGHT)
    ax.set_axis_off()

    top, middle, bottom, height = 392.0, 222.0, 52.0, 116.0
    width, last = 200.0, 165.0
    columns = [15.0, 220.0, 470.0, 720.0, 970.0, 1220.0]

    source = Box(
        columns[0],
        bottom,
        165,
        top + height - bottom,
        "MySQL\nAurora MySQL\nMariaDB",
        "binlog_format=ROW\nbinlog_row_image=FULL\nbinlog_row_metadata=FULL",
        SOURCE,
    )
    streamer = Box(
        columns[1],
        top,
        width,
        height,
        "cdc-streamer run",
        "binlog reader → Maxwell JSON\n→ filters → sink; checkpoint\nafter the sink acknowledged\na whole transaction",
        COMMAND,
    )
    kinesis = Box(
        columns[2],
        top,
        width,
        height,
        "Kinesis Data Streams",
        "--sink kinesis\npartition key db.table.pk:\nevery change of a row\non one shard, in order",
        AWS,
    )
    firehose = Box(
        columns[3],
        top,
        width,
        height,
        "Firehose + Lambda",
        "transform: flatten, partition\nkeys; record format\nconversion (Glue schema)\n→ Parquet",
        AWS,
    )
    events = Box(
        columns[4],
        top,
        width,
        height,
        "events/",
        "Parquet on S3 or in the local\nlake directory, partitioned by\n"
        "database/table/dt/hour:\nthe raw change history",
        STORAGE,
    )
    local = Box(
        columns[2],
        middle,
        columns[3] + width - columns[2],
        height,
        "Local stand-ins (no AWS account)",
        "--sink lake: embedded in the streamer, same transform, same layout\n"
        "--sink file → JSON lines → cdc-lake deliver\n"
        "(a local Firehose that calls the same Lambda code)",
        LOCAL,
        dashed=True,
    )
    compact = Box(
        columns[4],
        middle,
        width,
        height,
        "cdc-lake compact",
        "scheduled merge: the latest\nchange per primary key since\nthe watermark, by binlog\nposition (idempotent)",
        COMMAND,
    )
    snapshot = Box(
        columns[1],
        bottom,
        width,
        height,
        "Initial load",
        "cdc-streamer snapshot\n(consistent copy + its binlog\nposition) or Aurora's\nExport to S3",
        COMMAND,
    )
    exports = Box(
        columns[2],
        bottom,
        width,
        height,
        "exports/<export_id>/",
        "Parquet in Aurora's\nExport to S3 layout\n(+ cdc_position.json)",
        STORAGE,
    )
    load = Box(
        columns[3],
        bottom,
        width,
        height,
        "cdc-lake load-export",
        "creates the master tables\nfrom the copy; merges apply\nonly changes after its\nbinlog position",
        COMMAND,
    )
    master = Box(
        columns[4],
        bottom,
        width,
        height,
        "master tables D.T",
        "+ D.T_live views (changes\nnot merged yet included)\nAthena: Iceberg tables\nlocal: DuckDB (lake.duckdb)",
        STORAGE,
    )
    queries = Box(
        columns[5],
        bottom,
        last,
        height,
        "Queries",
        "Athena or DuckDB\ncdc-lake query\ncdc-lake verify\n(against the source)",
        QUERY,
    )
    for box in (source, streamer, kinesis, firehose, events, local, compact, snapshot, exports, load, master, queries):
        draw_box(ax, box)

    arrow(ax, (source.x + source.w, streamer.left[1]), streamer.left, "binlog")
    arrow(ax, streamer.right, kinesis.left, "JSON")
    arrow(ax, kinesis.right, firehose.left)
    arrow(ax, firehose.right, events.left)
    arrow(ax, streamer.at(0.8, 0.0), local.at(0.0, 0.62), "--sink lake | file", dashed=True, label_at=(410, 345))
    arrow(ax, local.at(1.0, 0.85), events.at(0.1, 0.0), dashed=True)
    arrow(ax, events.bottom, compact.top)
    arrow(ax, compact.bottom, master.top, "MERGE", label_at=(compact.bottom[0] + 30, 183))
    arrow(ax, master.right, queries.left)
    arrow(ax, (source.x + source.w, snapshot.left[1]), snapshot.left, "SELECT")
    arrow(ax, snapshot.right, exports.left)
    arrow(ax, exports.right, load.left)
    arrow(ax, load.right, master.left, "seed")
    arrow(ax, snapshot.at(0.3, 1.0), streamer.at(0.3, 0.0), dashed=True)
    ax.text(
        snapshot.at(0.3, 1.0)[0] + 8,
        268,
        "run --from-snapshot:\nstreaming starts at\nthe copy's position",
        ha="left",
        va="center",
        fontsize=8.5,
        color=INK,
        fontstyle="italic",
    )

    ax.text(15, 573, "cdc-pipeline: the data path", ha="left", va="center", fontsize=15, fontweight="bold", color=INK)
    ax.text(
        15,
        543,
        "One streamer per source cluster. Every stage orders changes by binlog position, never by arrival. "
        "Dashed: the local path (make demo, the tests).",
        ha="left",
        va="center",
        fontsize=9.5,
        color=MUTED,
    )
    ax.text(
        15,
        22,
        "Initial load: the streamer starts at the binlog position recorded with the copy; changes both in the copy "
        "and in the binlog are merged again harmlessly, because the merge is latest-wins by position.",
        ha="left",
        va="center",
        fontsize=9,
        color=MUTED,
    )
    legend = [
        Patch(facecolor=SOURCE[0], edgecolor=SOURCE[1], label="source database"),
        Patch(facecolor=COMMAND[0], edgecolor=COMMAND[1], label="this project's commands"),
        Patch(facecolor=AWS[0], edgecolor=AWS[1], label="AWS services"),
        Patch(facecolor=STORAGE[0], edgecolor=STORAGE[1], label="data (S3 or local files)"),
        Patch(facecolor=QUERY[0], edgecolor=QUERY[1], label="queries"),
        Patch(facecolor=LOCAL[0], edgecolor=LOCAL[1], linestyle=(0, (5, 3)), label="local stand-in"),
    ]
    ax.legend(
        handles=legend,
        loc="upper left",
        bbox_to_anchor=((columns[5] - 18) / WIDTH, (top - 10) / HEIGHT),
        fontsize=8.5,
        frameon=False,
        handlelength=1.4,
    )

    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=DPI, metadata={"Software": None})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw docs/images/data-path.png.")
    parser.add_argument("--output", type=Path, default=TARGET, help="where the PNG goes")
    args = parser.parse_args(argv)
    draw(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
