"""The benchmark's quick version runs end to end and prints the table it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.run import LATENCY_HEADER, MAIN_HEADER

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [
    ("timeline 300", "public (5)"),
    ("timeline 300", "all (11)"),
    ("lookup 500", "public (5)"),
    ("lookup 500", "all (11)"),
    ("lookup 1,000", "public (5)"),
    ("lookup 1,000", "all (11)"),
]


def tables(report: str) -> list[list[list[str]]]:
    """The report's Markdown tables: rows of cells, header first, separator left out."""
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in report.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(set(cell) <= set("-:") for cell in cells):
            continue
        if current is None:
            current = []
            found.append(current)
        current.append(cells)
    return found


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
    main, latency = tables(result.stdout)
    assert tuple(main[0]) == MAIN_HEADER
    assert [(row[0], row[1]) for row in main[1:]] == SCENARIOS
    assert all(len(row) == len(MAIN_HEADER) for row in main)
    column = {name: index for index, name in enumerate(MAIN_HEADER)}
    for row in main[1:]:
        assert row[column["SCHEMA/stream (max)"]] == "1", row
        assert int(row[column["records"]].replace(",", "")) > 0, row
        assert float(row[column["peak RSS MiB"]]) > 10, row
    public = {row[0]: row for row in main[1:] if row[1].startswith("public")}
    for label in ("timeline 300", "lookup 500", "lookup 1,000"):
        requests, minimum = public[label][column["requests"]], public[label][column["minimum"]]
        assert int(requests) == int(minimum.split(" = ")[0]), public[label]
    assert tuple(latency[0]) == LATENCY_HEADER
    assert len(latency) == 2
    assert len(latency[1]) == len(LATENCY_HEADER)
    assert "Date: " in result.stdout
    assert "Machine: " in result.stdout
