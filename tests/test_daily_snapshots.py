"""Daily snapshots: every family a run read, one row per post (or video) and UTC day."""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

import pytest

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import expected_records, private_cutoff, timeline_posts
from tests.tapruns import run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DAILY = ("tweet_metrics_daily", "media_metrics_daily")
FAMILIES = {
    "tweet_metrics_daily": {
        "public": "tweet_public_metrics",
        "non_public": "tweet_non_public_metrics",
        "organic": "tweet_organic_metrics",
        "promoted": "tweet_promoted_metrics",
    },
    "media_metrics_daily": {
        "public": "media_public_metrics",
        "non_public": "media_non_public_metrics",
        "organic": "media_organic_metrics",
        "promoted": "media_promoted_metrics",
    },
}
HEAD = {"tweet_id", "media_key", "author_id", "created_at", "observed_at", "snapshot_date"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=5, posts=150, partner_posts=10)) as sb:
        yield sb


def expected_snapshots(
    expected: dict[str, dict[str, dict[str, t.Any]]], stream: str, today: str
) -> dict[str, dict[str, t.Any]]:
    """The wide rows the family records of the same run make."""
    rows: dict[str, dict[str, t.Any]] = {}
    for prefix, family in FAMILIES[stream].items():
        for key, record in expected.get(family, {}).items():
            row = rows.setdefault(key, {"snapshot_date": today})
            row.update({k: v for k, v in record.items() if k in HEAD})
            row.update({f"{prefix}_{k}": v for k, v in record.items() if k not in HEAD})
    return rows


def non_null(record: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in record.items() if v is not None and k != "observed_at"}


PRIVATE_METRICS = (
    "tweet_non_public_metrics",
    "tweet_organic_metrics",
    "tweet_promoted_metrics",
    "media_non_public_metrics",
    "media_organic_metrics",
    "media_promoted_metrics",
)


@pytest.mark.parametrize(
    ("credentials", "also", "private"),
    [
        ("bearer", (), False),
        # The snapshots alone add no private field: those would cost more requests.
        ("oauth1", (), False),
        ("oauth1", PRIVATE_METRICS, True),
    ],
    ids=["bearer", "oauth1-public", "oauth1-private-streams"],
)
def test_a_snapshot_holds_every_family_the_run_read_of_each_post_that_day(
    sandbox: Sandbox, tmp_path: Path, credentials: str, also: tuple[str, ...], private: bool
) -> None:
    world = sandbox.world
    config = {**sandbox.config_for(credentials), "user_ids": [world.main_user_id]}
    run = run_tap(config, tmp_path, streams=(*DAILY, *also))

    today = datetime.now(timezone.utc).date().isoformat()
    posts = timeline_posts(world, world.main_user_id)
    recent = {p.id for p in posts if p.created_at >= private_cutoff()}
    expected = expected_records(world, posts, private_ids=recent if private else set())
    assert run.returncode == 0, run.stderr
    assert run.schema_counts == dict.fromkeys((*DAILY, *also), 1)
    for stream in DAILY:
        key = "tweet_id" if stream.startswith("tweet") else "media_key"
        records = run.records(stream)
        got = {record[key]: non_null(record) for record in records}
        assert len(got) == len(records), f"{stream}: one row per resource and day"
        want = {k: non_null(v) for k, v in expected_snapshots(expected, stream, today).items()}
        assert got == want, stream
    organic = [r for r in run.records("tweet_metrics_daily") if r["organic_impression_count"]]
    assert len(organic) == (len(recent) if private else 0)
    assert {r["observed_at"][:10] for r in run.records("tweet_metrics_daily")} == {today}


def test_a_second_run_on_the_same_day_writes_the_same_keys(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = sandbox.config_for("oauth1")
    first = run_tap(config, tmp_path / "first", streams=DAILY)
    second = run_tap(config, tmp_path / "second", streams=DAILY)

    for stream in DAILY:
        key = ("tweet_id" if stream.startswith("tweet") else "media_key", "snapshot_date")
        keys = [tuple(r[k] for k in key) for r in first.records(stream)]
        assert keys == [tuple(r[k] for k in key) for r in second.records(stream)]
        assert len(set(keys)) == len(keys) > 0
