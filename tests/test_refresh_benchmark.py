"""The refresh benchmark's quick version runs end to end and its numbers add up."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta
from itertools import pairwise

from benchmarks import refresh
from benchmarks.refresh import COVERAGE_HEADER, DEFAULT_MODES, QUICK, SUMMARY_HEADER
from tests.reports import tables

if t.TYPE_CHECKING:
    from pathlib import Path

DAY = timedelta(days=1)
SECTIONS = (
    "## Reads per mode",
    "## Coverage",
    "## Targets",
    "## Checks",
    "## Per run",
    "## Window arithmetic",
)


def number(cell: str) -> float:
    return float(cell.replace(",", "").replace("$", ""))


def reads_by_arithmetic(
    posts: dict[str, datetime],
    runs: list[datetime],
    start_date: datetime,
    *,
    lookback: int | None = None,
    ages: tuple[int, ...] = (),
) -> list[int]:
    """Posts each daily run reads, from the world's post times and the run instants."""
    counts = []
    for previous, now in pairwise(runs):
        bookmark = max(c for c in posts.values() if start_date <= c <= previous)
        existing = [c for c in posts.values() if start_date <= c <= now]
        if lookback is not None:
            counts.append(sum(c >= bookmark - lookback * DAY for c in existing))
        else:
            counts.append(
                sum(
                    c > bookmark or any(previous - a * DAY <= c <= now - a * DAY for a in ages)
                    for c in existing
                )
            )
    return counts


def test_quick_refresh_benchmark_reports_every_mode_with_consistent_numbers(
    tmp_path: Path,
) -> None:
    output = tmp_path / "refresh.md"
    outcome, report = refresh.execute(["--quick", "--output", str(output)])

    assert output.read_text() == report
    positions = [report.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "Date: " in report
    assert "Machine: " in report
    summary, coverage, per_run = tables(report)
    days = QUICK.days
    assert tuple(summary[0]) == tuple(h.format(days=days) for h in SUMMARY_HEADER)
    modes = [refresh.parse_mode(text) for text in DEFAULT_MODES]
    assert [row[0] for row in summary[1:]] == [mode.label for mode in modes]
    assert tuple(coverage[0]) == COVERAGE_HEADER
    assert [row[0] for row in coverage[1:]] == [mode.label for mode in modes]

    # The world as the runs saw it: every run instant, post times from the sandbox's world.
    runs, posts, start = outcome.run_times, outcome.posts, outcome.start_date
    assert len(runs) == days + 1
    assert all(later - earlier == DAY for earlier, later in pairwise(runs))
    initial = sum(start <= c <= runs[0] for c in posts.values())
    assert initial > 0
    column = {name.format(days=days): i for i, name in enumerate(SUMMARY_HEADER)}
    by_label = {row[0]: row for row in summary[1:]}
    per_run_column = {name: i for i, name in enumerate(per_run[0])}
    reference_total = 0
    for mode in modes:
        expected = (
            reads_by_arithmetic(posts, runs, start, ages=mode.days)
            if mode.schedule
            else reads_by_arithmetic(posts, runs, start, lookback=mode.days[0])
        )
        row = by_label[mode.label]
        assert number(row[column["initial sync reads"]]) == initial, row
        assert number(row[column["reads/day (mean)"]]) == round(sum(expected) / days, 1), row
        assert number(row[column["min"]]) == min(expected), row
        assert number(row[column["max"]]) == max(expected), row
        assert number(row[column[f"reads over {days} days"]]) == sum(expected), row
        assert number(row[column["per 30-day month"]]) == round(sum(expected) * 30 / days), row
        billed = row[column["sandbox billed/day"]]
        assert billed == "n/a" or billed == row[column["reads/day (mean)"]], row
        if mode == refresh.REFERENCE:
            reference_total = sum(expected)
        cells = [r[per_run_column[f"{mode.label} reads"]] for r in per_run[1:]]
        assert cells == [f"{initial:,}", *(f"{count:,}" for count in expected)], mode
    for mode in modes:
        row = by_label[mode.label]
        ratio = number(row[column[f"reads over {days} days"]]) / reference_total
        assert row[column["ratio to `lookback_days: 7`"]] == f"{ratio:.2f}", row

    # Coverage: the schedules read every post that reached 30 days at 30 days or more; the
    # flat look-back reads nothing that old.
    reaching = sum(runs[0] < c + 30 * DAY <= runs[-1] for c in posts.values())
    assert reaching == days * QUICK.posts_per_day
    for row in coverage[1:]:
        mode = refresh.parse_mode(row[0].strip("`").replace(": ", "="))
        assert number(row[3]) == reaching, row
        if mode.schedule:
            assert number(row[4]) == reaching, row
            assert number(row[1]) >= 30, row
        else:
            assert number(row[4]) == 0, row
            assert mode.days[0] < number(row[1]) < mode.days[0] + 2, row
    targets = report.split("## Targets", 1)[1].split("##", 1)[0]
    for mode in modes:
        (line,) = [line for line in targets.splitlines() if line.startswith(f"- {mode.label}:")]
        if mode.schedule:
            assert "(target <= 0.60)" in line, line
            assert line.endswith((": yes", ": **no**")), line
    checks = report.split("## Checks", 1)[1].split("##", 1)[0]
    assert "**no**" not in checks, checks
