"""Rate limits: waiting for the window instead of eating a 429, and stopping when it is too far."""

from __future__ import annotations

import re
import typing as t
from datetime import timedelta

from tests.expected import expected_records, private_cutoff, timeline_posts, without_observed_at
from tests.faultruns import (
    TIMELINE,
    assert_no_secret,
    bookmarks,
    lookup_ids,
    requests_in_order,
    sandbox,
    secrets_of,
    sync_config,
)
from tests.tapruns import CORE_STREAMS, PUBLIC_STREAMS, TapRun, bookmark_state, run_tap

if t.TYPE_CHECKING:
    from pathlib import Path

WAIT_LINE = re.compile(
    r"Waiting (?P<seconds>\d+\.\d) s for GET (?P<route>\S+) \(rate-limit window spent\) until "
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\."
)


def wait_lines(run: TapRun) -> list[str]:
    return [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if "| Waiting " in line]


def test_two_requests_per_window_still_deliver_every_record_without_a_429(
    tmp_path: Path,
) -> None:
    with sandbox(rate_limit=2, window_seconds=2) as sb:
        world = sb.world
        config = sync_config(sb)
        run = run_tap(config, tmp_path)
        requests = requests_in_order(sb)
        secrets = secrets_of(config, sb)

    assert run.returncode == 0, run.stderr
    main, partner = world.main_user_id, world.partner_user_id
    looked_up = [world.posts_by_id[post_id] for post_id in lookup_ids(sb)]
    own = timeline_posts(world, main)
    expected = expected_records(
        world,
        own + timeline_posts(world, partner) + looked_up,
        private_ids={post.id for post in own if post.created_at >= private_cutoff()},
        users=[main, partner, *sorted({post.author_id for post in looked_up})],
    )
    for stream in CORE_STREAMS:
        assert len(run.records(stream)) == len(run.by_key(stream)), stream
        assert without_observed_at(run.by_key(stream)) == expected.get(stream, {}), stream
    # Every window was used up and waited for; the API never had to refuse a request.
    assert [request.status for request in requests] == [200] * len(requests)
    waits = wait_lines(run)
    matches = [match for line in waits if (match := WAIT_LINE.fullmatch(line))]
    assert len(matches) == len(waits) == 1, waits
    # Two timeline pages, the wait, the two others.
    timeline = [request for request in requests if request.route == TIMELINE]
    assert len(timeline) == 4
    assert matches[0]["route"] == TIMELINE
    assert timeline[2].at - timeline[1].at >= float(matches[0]["seconds"]) - 0.1
    assert " 0 retries, 1 waits " in run.stderr
    assert_no_secret(run.output, secrets)


def test_a_window_reopening_later_than_the_longest_wait_stops_before_asking(
    tmp_path: Path,
) -> None:
    with sandbox(rate_limit=1, window_seconds=3600) as sb, sandbox() as unlimited:
        world = sb.world
        main, partner = world.main_user_id, world.partner_user_id
        main_posts = timeline_posts(world, main)
        partner_posts = timeline_posts(world, partner)
        old_bookmark = main_posts[60].created_at_api
        state = bookmark_state(main, old_bookmark)
        config = {
            **sb.config_for("bearer"),
            "user_ids": [partner, main],
            "rate_limit_max_wait_seconds": 5,
        }
        first = run_tap(config, tmp_path / "first", streams=PUBLIC_STREAMS, state=state)
        requests = requests_in_order(sb)
        second = run_tap(
            {**config, "api_url": unlimited.url},
            tmp_path / "second",
            streams=PUBLIC_STREAMS,
            state=first.state,
        )

    assert first.returncode == 1
    message = first.stderr.strip().splitlines()[-1].split(" | ", 3)[-1]
    assert re.fullmatch(
        r"GET /2/users/:id/tweets: rate-limit window spent; the next window opens at "
        r"(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC), in 3\d\d\d s, longer than "
        r"rate_limit_max_wait_seconds \(5\)\. Stopping now: run the sync again after "
        r"(?P=at), it carries on from the last state\.",
        message,
    ), message
    # The partner's timeline was read in the one request the window allowed; the own
    # account's was not asked for at all.
    assert [(r.route, r.status) for r in requests] == [("/2/users", 200), (TIMELINE, 200)]
    assert requests[1].path == f"/2/users/{partner}/tweets"
    assert bookmarks(first.state) == {partner: partner_posts[0].created_at_api, main: old_bookmark}

    assert second.returncode == 0, second.stderr
    since = main_posts[60].created_at - timedelta(days=7)
    window = {post.id for post in main_posts if post.created_at >= since.replace(microsecond=0)}
    window |= {post.id for post in partner_posts}
    got = {r["id"] for r in first.records("tweets")} | {r["id"] for r in second.records("tweets")}
    assert window <= got
