"""The built wheel carries the schemas and not the sandbox; installed fresh, it discovers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tap_twitter_metrics.catalogue import STREAM_NAMES

REPO = Path(__file__).resolve().parent.parent
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def schema_files() -> dict[str, object]:
    return {
        name: json.loads((REPO / "tap_twitter_metrics" / "schemas" / f"{name}.json").read_text())
        for name in STREAM_NAMES
    }


def discovered(output: str) -> dict[str, object]:
    return {entry["tap_stream_id"]: entry["schema"] for entry in json.loads(output)["streams"]}


def test_discover_prints_exactly_the_schema_files() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tap_twitter_metrics", "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert discovered(result.stdout) == schema_files()


def test_wheel_installed_in_a_fresh_virtualenv_discovers_the_shipped_schemas(
    tmp_path: Path,
) -> None:
    assert UV, "uv is installed with the test dependencies (through meltano)"
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    subprocess.run(
        [UV, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(REPO)],
        check=True,
        capture_output=True,
        env=env,
    )
    (wheel,) = (tmp_path / "dist").glob("tap_twitter_metrics-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist() if "/" in name}
    # The sandbox is a distribution of its own: the runtime wheel does not carry it.
    assert packages == {"tap_twitter_metrics", wheel.name.split("-py3")[0] + ".dist-info"}
    venv = tmp_path / "venv"
    subprocess.run(
        [UV, "venv", "--python", sys.executable, str(venv)],
        check=True,
        env=env,
        capture_output=True,
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [UV, "pip", "install", "--python", str(python), str(wheel)],
        check=True,
        capture_output=True,
        env=env,
    )
    # Run from an empty folder so nothing of the source checkout can be picked up.
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    located = subprocess.run(
        [str(python), "-c", "import tap_twitter_metrics as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    assert Path(located.stdout.strip()).is_relative_to(venv)
    result = subprocess.run(
        [str(venv / "bin" / "tap-twitter-metrics"), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    assert discovered(result.stdout) == schema_files()
