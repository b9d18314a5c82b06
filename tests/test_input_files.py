"""A config, catalog or state file the tap cannot use is named in one line, before any request.

The command runs as a user runs it; no case prints a traceback or reads a record.
"""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest

from tap_twitter_metrics.inputs import BadInputError
from tap_twitter_metrics.tap import TapTwitterMetrics
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.tapruns import TAP, catalog

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# What a file holds -> the problem the one line names after the file.
BROKEN = {
    "empty": ("", "is empty"),
    "blank": ("  \n", "is empty"),
    "null": ("null", "must hold a JSON object, not null"),
    "list": ("[1, 2]", "must hold a JSON object, not a list"),
    "number": ("5", "must hold a JSON object, not a number"),
    "string": ('"config"', "must hold a JSON object, not a string"),
    "malformed": ('{"a": }', "not valid JSON (line 1, column 7: Expecting value)"),
    "cut_off": (
        '{"a": 1,\n',
        "not valid JSON (line 2, column 1: Expecting property name enclosed in double quotes)",
    ),
    "not_utf8": (b"\xff\xfe{}", "is not UTF-8 text"),
}
BAD_CATALOGS = {
    "streams_a_number": (
        {"streams": 5},
        'not a Singer catalog: "streams" must be a list of streams, not a number',
    ),
    "no_streams": ({"stream": []}, 'not a Singer catalog: it has no "streams" list'),
    "stream_a_string": (
        {"streams": ["tweets"]},
        "not a Singer catalog: streams[0] must be an object, not a string",
    ),
    "no_stream_id": (
        {"streams": [{}]},
        'not a Singer catalog: streams[0] has no "tap_stream_id" string',
    ),
    "metadata_a_number": (
        {"streams": [{"tap_stream_id": "tweets", "metadata": 5}]},
        "not a Singer catalog: streams[0].metadata must be a list, not a number",
    ),
    "metadata_entry": (
        {"streams": [{"tap_stream_id": "tweets", "metadata": [{"breadcrumb": []}]}]},
        'not a Singer catalog: streams[0].metadata[0] must be an object with a "breadcrumb" '
        'list and a "metadata" object',
    ),
}
BAD_STATES = {
    "bookmarks_a_list": (
        {"bookmarks": []},
        'not a Singer state: "bookmarks" must be an object of streams, not a list',
    ),
    "bookmark_a_number": (
        {"bookmarks": {"tweets": 5}},
        "not a Singer state: the bookmark of tweets must be an object, not a number",
    ),
    "partitions_an_object": (
        {"bookmarks": {"tweets": {"partitions": {"a": 1}}}},
        "not a Singer state: the partitions of tweets must be a list, not an object",
    ),
    "partition_a_string": (
        {"bookmarks": {"tweets": {"partitions": ["x"]}}},
        "not a Singer state: a partition of tweets must be an object, not a string",
    ),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        yield sb


@pytest.fixture
def config_file(sandbox: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(sandbox.config_for("oauth1")))
    return path


def write(path: Path, content: str | bytes | dict[str, t.Any]) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def refusal(*args: str) -> str:
    """Run the command; return its one ERROR line, checking it is all it said about it."""
    result = subprocess.run([*TAP, *args], capture_output=True, text=True, check=False, timeout=60)
    errors = [line.split(" | ", 3)[-1] for line in result.stderr.splitlines() if "| ERROR " in line]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("option", ["--config", "--catalog", "--state"])
@pytest.mark.parametrize(("content", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_is_named_in_one_line(
    option: str, content: str | bytes, problem: str, config_file: Path, tmp_path: Path
) -> None:
    broken = write(tmp_path / "broken.json", content)
    args = ["--config", str(broken)] if option == "--config" else ["--config", str(config_file)]
    if option != "--config":
        args += [option, str(broken)]

    assert refusal(*args) == f"{option} {broken}: {problem}"


@pytest.mark.parametrize("option", ["--config", "--catalog", "--state"])
def test_a_missing_file_is_named_in_one_line(
    option: str, config_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    args = ["--config", str(missing)] if option == "--config" else ["--config", str(config_file)]
    if option != "--config":
        args += [option, str(missing)]

    assert refusal(*args) == f"{option} {missing}: no such file"


def test_a_folder_given_as_a_file_is_named_in_one_line(config_file: Path, tmp_path: Path) -> None:
    assert refusal("--config", str(config_file), "--state", str(tmp_path)) == (
        f"--state {tmp_path}: is a folder, not a file"
    )


def test_the_second_of_two_config_files_is_the_one_named(config_file: Path, tmp_path: Path) -> None:
    broken = write(tmp_path / "secrets.json", '{"bearer_token": "abc",}')

    assert refusal("--config", str(config_file), "--config", str(broken)) == (
        f"--config {broken}: not valid JSON (line 1, column 24: Expecting property name "
        "enclosed in double quotes)"
    )


def test_a_broken_config_is_named_in_one_line_by_discovery_too(tmp_path: Path) -> None:
    broken = write(tmp_path / "config.json", "null")

    assert refusal("--config", str(broken), "--discover") == (
        f"--config {broken}: must hold a JSON object, not null"
    )


def test_a_malformed_config_line_quotes_nothing_of_the_file(tmp_path: Path) -> None:
    secret = "s3cr3t-bearer-token-value"
    broken = write(tmp_path / "config.json", f'{{"bearer_token": "{secret}" "x": 1}}')

    line = refusal("--config", str(broken))

    assert line.startswith(f"--config {broken}: not valid JSON (line 1, column ")
    assert secret not in line


@pytest.mark.parametrize(("content", "problem"), BAD_CATALOGS.values(), ids=BAD_CATALOGS.keys())
def test_a_catalog_that_is_not_a_singer_catalog_is_named_in_one_line(
    content: dict[str, t.Any], problem: str, config_file: Path, tmp_path: Path
) -> None:
    bad = write(tmp_path / "catalog.json", content)

    assert refusal("--config", str(config_file), "--catalog", str(bad)) == (
        f"--catalog {bad}: {problem}"
    )


@pytest.mark.parametrize(("content", "problem"), BAD_STATES.values(), ids=BAD_STATES.keys())
def test_a_state_that_is_not_a_singer_state_is_named_in_one_line(
    content: dict[str, t.Any], problem: str, config_file: Path, tmp_path: Path
) -> None:
    bad = write(tmp_path / "state.json", content)

    assert refusal("--config", str(config_file), "--state", str(bad)) == (
        f"--state {bad}: {problem}"
    )


def test_good_files_still_sync(config_file: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    catalog_file = write(tmp_path / "catalog.json", catalog(["users"]))
    state_file = write(tmp_path / "state.json", {"bookmarks": {}})
    result = subprocess.run(
        [
            *TAP,
            "--config",
            str(config_file),
            "--catalog",
            str(catalog_file),
            "--state",
            str(state_file),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    records = [json.loads(line) for line in result.stdout.splitlines() if '"type":"RECORD"' in line]

    assert result.returncode == 0, result.stderr
    assert [r["record"]["id"] for r in records] == [sandbox.world.main_user_id]


def test_paths_given_to_the_tap_class_are_named_too(tmp_path: Path) -> None:
    config = write(tmp_path / "config.json", {"bearer_token": "token"})
    state = write(tmp_path / "state.json", "[]")

    with pytest.raises(BadInputError) as error:
        TapTwitterMetrics(config=config, state=state)
    assert str(error.value) == f"state {state}: must hold a JSON object, not a list"

    with pytest.raises(BadInputError) as error:
        TapTwitterMetrics(config=[config, tmp_path / "missing.json"])
    assert str(error.value) == f"config {tmp_path / 'missing.json'}: no such file"

    with pytest.raises(BadInputError) as error:
        TapTwitterMetrics(config={"bearer_token": "token"}, catalog={"streams": 5})
    assert str(error.value) == (
        'catalog: not a Singer catalog: "streams" must be a list of streams, not a number'
    )
