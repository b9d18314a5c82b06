"""Reading the Markdown reports the benchmarks write."""

from __future__ import annotations


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
