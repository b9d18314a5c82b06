"""The benchmark's quick version runs end to end and prints the table it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.run import ANALYTICS_HEADER, LATENCY_HEADER, MAIN_HEADER
from tap_twitter_metrics.catalogue import CATALOGUE, Part
from tests.reports import tables

ROOT = Path(__file__).resolve().parent.parent
# Selected by default: the streams that need no user context.
# The benchmark leaves out the run's own record (sync_runs): the baseline has none.
# The streams the benchmark measures: those made from the pass (not the run's record or
# X's usage count).
DATA = [spec for spec in CATALOGUE if spec.part not in {Part.RUNS, Part.USAGE}]
PUBLIC = f"public ({sum(not spec.user_context for spec in DATA)})"
ALL = f"all ({len(DATA)})"
LABELS = ("timeline 300", "lookup 500", "lookup 1,000")
SCENARIOS = [(label, streams) for label in LABELS for streams in (PUBLIC, ALL)]


def test_quick_benchmark_prints_both_tables_and_reads_with_the_fewest_requests(
    tmp_path: Path,
) -> None:
    output = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert output.read_text() == result.stdout
    main, analytics, latency = tables(result.stdout)
    assert tuple(main[0]) == MAIN_HEADER
    assert [(row[0], row[1]) for row in main[1:]] == SCENARIOS
    assert all(len(row) == len(MAIN_HEADER) for row in main)
    column = {name: index for index, name in enumerate(MAIN_HEADER)}
    for row in main[1:]:
        assert row[column["SCHEMA/stream (max)"]] == "1", row
        assert int(row[column["records"]].replace(",", "")) > 0, row
        assert float(row[column["peak RSS MiB"]]) > 10, row
        requests, minimum = row[column["requests"]], row[column["minimum"]]
        total, _, breakdown = minimum.partition(" = ")
        assert not breakdown or sum(map(int, breakdown.split(" + "))) == int(total), row
        # The public rows read with the fewest requests; the all rows at least as many.
        if row[1] == PUBLIC:
            assert int(requests) == int(total), row
        assert int(requests) >= int(total), row
    assert tuple(analytics[0]) == ANALYTICS_HEADER
    assert [row[0] for row in analytics[1:]] == [f"{label}, all streams" for label in LABELS]
    cell = {name: index for index, name in enumerate(ANALYTICS_HEADER)}
    for row in analytics[1:]:
        assert int(row[cell["own posts < 30 days"]]) > 0, row
        assert int(row[cell["own videos"]]) > 0, row
        for name in ("tweet_analytics", "media_analytics"):
            assert row[cell[f"{name} requests"]] == row[cell[f"{name} minimum"]] != "0", row
        reads, fewest = row[cell["own-timeline reads"]], row[cell["own-timeline reads minimum"]]
        assert int(reads) >= int(fewest), row
        if row[0].startswith("lookup"):
            assert int(reads) == int(fewest) > 0, row
    for label, streams in SCENARIOS:
        (line,) = [
            line
            for line in result.stdout.splitlines()
            if line.startswith(f"- {label} {streams.split()[0]}:")
        ]
        assert "one SCHEMA per stream yes" in line, line
        assert line.endswith("records = baseline's yes"), line
    assert tuple(latency[0]) == LATENCY_HEADER
    assert len(latency) == 2
    assert len(latency[1]) == len(LATENCY_HEADER)
    assert "Date: " in result.stdout
    assert "Machine: " in result.stdout
