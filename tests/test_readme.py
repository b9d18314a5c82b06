"""The README stays true: its commands exist, its tables match the tap."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tap_twitter_metrics.catalogue import STREAM_NAMES

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_the_two_setup_commands_are_jobs_of_the_run_script() -> None:
    script = (REPO / "run").read_text()
    for command in ("demo", "test", "postgres"):
        assert f"./run {command}" in README
        assert re.search(rf"^\s+{command}\)", script, re.MULTILINE), command
    assert "./run test" in (REPO / ".ci" / "run").read_text()


def test_settings_table_is_the_one_the_tap_prints() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_twitter_metrics", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    own_rows = [
        row
        for row in about.splitlines()
        if row.startswith("| ")
        and not row.startswith(("| stream_map", "| faker", "| flattening", "| batch_config"))
    ]
    assert len(own_rows) > 10
    for row in own_rows:
        assert row in README, row


def test_streams_table_lists_every_stream() -> None:
    listed = re.findall(r"^\| `([a-z_]+)` \| `[a-z_]+`(?:, `[a-z_]+`)* \|", README, re.MULTILINE)
    assert sorted(listed) == sorted(STREAM_NAMES)


def test_fault_matrix_is_the_one_the_fault_tests_play() -> None:
    from tests.test_faults import readme_table

    assert readme_table().strip() in README


def test_performance_table_is_the_last_benchmark_run() -> None:
    results = (REPO / "benchmarks" / "results.md").read_text()
    table = results[results.index("| scenario | streams |") :]
    assert table[: table.index("\n\n")] in README
