"""X's specification 2.167 renames parts of posts, users and problems: same records either way."""

from __future__ import annotations

import typing as t

import pytest

from tap_twitter_metrics.catalogue import CATALOGUE, STREAM_NAMES
from tests.expected import timeline_posts
from tests.faultruns import sandbox, sync_config
from tests.tapruns import DATA_STREAMS, TapRun, run_tap

KEYS = {spec.name: spec.key for spec in CATALOGUE}


def by_full_key(run: TapRun, stream: str) -> dict[tuple[str, ...], dict[str, t.Any]]:
    return {
        tuple(record[column] for column in KEYS[stream]): {
            column: value for column, value in record.items() if column != "observed_at"
        }
        for record in run.records(stream)
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TapRun]:
    done = {}
    for spelling in ("2.159", "2.167"):
        with sandbox(spelling=spelling) as sb:
            # The partner's newest posts, looked up with the private fields X refuses on them.
            partner = timeline_posts(sb.world, sb.world.partner_user_id)[:2]
            config = sync_config(sb, user_ids=[sb.world.main_user_id])
            config["tweet_ids"] += [post.id for post in partner]
            run = run_tap(config, tmp_path_factory.mktemp(spelling), streams=STREAM_NAMES)
            assert run.returncode == 0, run.stderr
            done[spelling] = run
    return done


@pytest.mark.parametrize("stream", DATA_STREAMS)
def test_both_spellings_give_the_same_records(stream: str, runs: dict[str, TapRun]) -> None:
    today, renamed = by_full_key(runs["2.159"], stream), by_full_key(runs["2.167"], stream)
    assert renamed == today
    assert today, f"{stream} has no records to compare"


def test_a_field_refusal_in_the_new_spelling_loses_no_post(runs: dict[str, TapRun]) -> None:
    refusal = "Partial errors 'field-unauthorized'"
    assert refusal in runs["2.167"].stderr
    assert refusal not in runs["2.159"].stderr
    assert "Partial errors 'not-authorized-for-field'" in runs["2.159"].stderr
