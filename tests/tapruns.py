"""Run the tap as a user does, a subprocess writing Singer messages, and read its output."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass
from functools import cache

from tap_twitter_metrics.catalogue import CATALOGUE, Part

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

# The streams of posts, media, accounts and their metric families, one row per resource.
CORE_PARTS = frozenset(
    {Part.USERS, Part.TWEETS, Part.MEDIA, Part.TWEET_METRICS, Part.MEDIA_METRICS}
)
CORE_STREAMS = tuple(spec.name for spec in CATALOGUE if spec.part in CORE_PARTS)
PUBLIC_STREAMS = tuple(spec.name for spec in CATALOGUE if not spec.user_context)
# The streams of what the API returned about the synced accounts: not the run's own record
# (`sync_runs`), nor X's count of what the app read (`api_usage`, one row per app and day,
# whatever the accounts, and none without a bearer_token).
DATA_STREAMS = tuple(spec.name for spec in CATALOGUE if spec.part not in {Part.RUNS, Part.USAGE})
PRIMARY_KEYS = {spec.name: spec.key[0] for spec in CATALOGUE}
TAP = [sys.executable, "-m", "tap_twitter_metrics"]


@dataclass
class TapRun:
    """What one run of the tap printed."""

    returncode: int
    messages: list[dict[str, t.Any]]
    stderr: str

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        """RECORD payloads of `stream`, in output order."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def by_key(self, stream: str) -> dict[str, dict[str, t.Any]]:
        """Records of `stream` keyed by primary key (the last one wins, as in a table)."""
        return {record[PRIMARY_KEYS[stream]]: record for record in self.records(stream)}

    @property
    def schema_counts(self) -> Counter[str]:
        """SCHEMA messages per stream."""
        return Counter(m["stream"] for m in self.messages if m["type"] == "SCHEMA")

    @property
    def state(self) -> dict[str, t.Any]:
        """The last STATE message's value."""
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}

    @property
    def output(self) -> str:
        """Everything the run printed, for secret checks."""
        return json.dumps(self.messages) + self.stderr


@cache
def _discovered_catalog() -> str:
    result = subprocess.run([*TAP, "--discover"], capture_output=True, text=True, check=True)
    return result.stdout


def catalog(selected: Iterable[str]) -> dict[str, t.Any]:
    """The discovered catalog with exactly `selected` streams selected."""
    chosen = set(selected)
    catalog: dict[str, t.Any] = copy.deepcopy(json.loads(_discovered_catalog()))
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in chosen
    return catalog


def run_tap(
    config: dict[str, t.Any],
    tmp_path: Path,
    *,
    streams: Iterable[str] | None = CORE_STREAMS,
    state: dict[str, t.Any] | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run a sync; `streams=None` keeps the catalog's default selection."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    command = [*TAP, "--config", str(config_file)]
    if streams is not None:
        catalog_file = tmp_path / "catalog.json"
        catalog_file.write_text(json.dumps(catalog(streams)))
        command += ["--catalog", str(catalog_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return TapRun(result.returncode, messages, result.stderr)


def bookmark_state(author_id: str, value: object, **kept: t.Any) -> dict[str, t.Any]:
    """A state holding one account's `tweets` bookmark, and what else `kept` puts beside it."""
    partition = {
        "context": {"author_id": author_id},
        "replication_key": "created_at",
        "replication_key_value": value,
        **kept,
    }
    return {"bookmarks": {"tweets": {"partitions": [partition]}}}
