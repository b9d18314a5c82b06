"""One bad value in one post never blocks a run: the post is kept, the value cleaned or
nulled, and one warning names post and field."""

from __future__ import annotations

import pytest

from tap_twitter_metrics_sandbox import POISONED_PROJECT_CAP, Sandbox, SandboxOptions
from tests.expected import as_loaded, expected_records, timeline_posts, without_observed_at
from tests.tapruns import PUBLIC_STREAMS, TapRun, run_tap

ODD = SandboxOptions(seed=7, odd_text=True, poison_metrics=True, missing_media_include=True)


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sandbox, TapRun]:
    with Sandbox(ODD) as sb:
        config = sb.config_for("bearer") | {"user_ids": [sb.world.main_user_id]}
        return sb, run_tap(config, tmp_path_factory.mktemp("odd"), streams=PUBLIC_STREAMS)


def warnings(run: TapRun, start: str) -> list[str]:
    lines = [line.split(" | ")[-1] for line in run.stderr.splitlines()]
    return [line for line in lines if line.startswith(start)]


def test_the_run_completes_and_moves_its_bookmark(odd_run: tuple[Sandbox, TapRun]) -> None:
    sb, run = odd_run
    posts = timeline_posts(sb.world, sb.world.main_user_id)
    assert run.returncode == 0, run.stderr
    assert run.state["bookmarks"]["tweets"]["partitions"][0]["replication_key_value"] == (
        posts[0].created_at_api
    )


@pytest.mark.parametrize("stream", ["tweets", "tweet_public_metrics", "users"])
def test_every_post_arrives_with_the_bad_values_cleaned_or_nulled(
    odd_run: tuple[Sandbox, TapRun], stream: str
) -> None:
    sb, run = odd_run
    world = sb.world
    posts = timeline_posts(world, world.main_user_id)
    expected = expected_records(world, posts, private_ids=set(), users=[world.main_user_id])
    assert without_observed_at(run.by_key(stream)) == expected[stream]


def test_each_changed_value_is_one_warning_naming_post_and_field(
    odd_run: tuple[Sandbox, TapRun],
) -> None:
    sb, run = odd_run
    world = sb.world
    odd = world.odd_text_post_ids
    poisoned = world.poisoned_posts
    assert sorted(warnings(run, "Value changed to load: ")) == sorted(
        [
            f"Value changed to load: post {odd['nul']} text: NUL characters removed.",
            f"Value changed to load: post {odd['lone_surrogate']} text: lone surrogates replaced "
            "with U+FFFD.",
            f"Value changed to load: post {odd['entity_nul']} entities: NUL characters removed.",
            *(
                f"Value changed to load: post {post} {path}: {value!r} is not a count; loaded "
                "as null."
                for post, (path, value) in poisoned.items()
                if not isinstance(value, int)
            ),
            *(
                f"Value changed to load: post {post} {path}: {value!r} does not fit a 64-bit "
                "integer; loaded as null."
                for post, (path, value) in poisoned.items()
                if isinstance(value, int)
            ),
            f"Value changed to load: user {world.main_user_id} public_metrics.followers_count: "
            "'many' is not a count; loaded as null.",
            f"Value changed to load: post {world.missing_media_post_id} attachments.media_keys: "
            f"media {world.missing_media_key} is not in includes.media; no media record.",
            f"Value changed to load: project 1234567890 project_cap: {POISONED_PROJECT_CAP!r} is "
            "not a count; loaded as null.",
        ]
    )


def test_odd_text_is_kept_as_sent_where_it_can_be(odd_run: tuple[Sandbox, TapRun]) -> None:
    sb, run = odd_run
    tweets = run.by_key("tweets")
    for kind in ("emoji", "rtl", "whitespace"):
        post_id = sb.world.odd_text_post_ids[kind]
        assert (
            tweets[post_id]["text"]
            == sb.world.odd_texts[post_id]
            == as_loaded(sb.world.odd_texts[post_id])
        )


def test_a_missing_media_include_keeps_the_post_and_its_key(
    odd_run: tuple[Sandbox, TapRun],
) -> None:
    sb, run = odd_run
    post_id, media_key = sb.world.missing_media_post_id, sb.world.missing_media_key
    assert post_id is not None
    assert media_key is not None
    assert media_key in run.by_key("tweets")[post_id]["media_keys"]
    assert media_key not in run.by_key("media")
