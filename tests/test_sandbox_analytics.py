"""The sandbox's analytics endpoints over real HTTP: exact buckets, errors, limits, faults."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.analytics import (
    MEDIA_METRICS,
    STRING_COUNTER,
    STRING_VALUE,
    TWEET_METRICS,
)
from tap_twitter_metrics_sandbox.cli import build_parser
from tap_twitter_metrics_sandbox.world import World
from tests.sandbox_http import BEARER, oauth1

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_twitter_metrics_sandbox.world import Post

TWEETS = "/2/tweets/analytics"
MEDIA = "/2/media/analytics"
PROBLEMS = "https://api.twitter.com/2/problems/"
HOUR = 3_600_000
DAY = 24 * HOUR
ALL_TWEET = ",".join(TWEET_METRICS)
ALL_MEDIA = ",".join(MEDIA_METRICS)
# Analytics figure -> (metric family served by GET /2/tweets, its key).
TWEET_TOTALS = {
    "impressions": ("non_public_metrics", "impression_count"),
    "likes": ("public_metrics", "like_count"),
    "retweets": ("public_metrics", "retweet_count"),
    "replies": ("public_metrics", "reply_count"),
    "quote_tweets": ("public_metrics", "quote_count"),
    "bookmarks": ("public_metrics", "bookmark_count"),
    "url_clicks": ("non_public_metrics", "url_link_clicks"),
    "user_profile_clicks": ("non_public_metrics", "user_profile_clicks"),
    "engagements": ("non_public_metrics", "engagements"),
}
MEDIA_TOTALS = {
    "video_views": ("public_metrics", "view_count"),
    "playback_start": ("non_public_metrics", "playback_0_count"),
    "playback25": ("non_public_metrics", "playback_25_count"),
    "playback50": ("non_public_metrics", "playback_50_count"),
    "playback75": ("non_public_metrics", "playback_75_count"),
    "playback_complete": ("non_public_metrics", "playback_100_count"),
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def get(
    sb: Sandbox, path: str, auth: Any = None, headers: Any = None, **params: Any
) -> requests.Response:
    if auth is None and headers is None:
        auth = oauth1()
    return requests.get(sb.url + path, params=params, auth=auth, headers=headers, timeout=30)


def analytics(sb: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    response = get(sb, path, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def series(item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(b["timestamp"], b["metrics"]) for b in item["timestamped_metrics"]]


def sums(buckets: list[tuple[str, dict[str, Any]]], names: Any) -> dict[str, int]:
    return {name: sum(metrics[name] for _at, metrics in buckets) for name in names}


def served(families: dict[str, Any], table: dict[str, tuple[str, str]]) -> dict[str, int]:
    return {name: families[fam].get(key, 0) for name, (fam, key) in table.items()}


def totals_of(post: Post) -> dict[str, int]:
    """The figures the post's analytics add up to, from the world."""
    families = {
        "public_metrics": post.public_metrics,
        "non_public_metrics": post.non_public_metrics,
    }
    return served(families, TWEET_TOTALS)


def invalid(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert body["type"] == PROBLEMS + "invalid-request"
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sandbox:
        yield sandbox


def recent_own(sb: Sandbox, count: int) -> list[Post]:
    """The main account's newest posts, at least an hour old, younger than 30 days."""
    now = now_ms()
    posts = sb.world.timeline(sb.world.main_user_id)
    return [p for p in posts if now - 29 * DAY < p.created_ms < now - HOUR][:count]


# --- sums and buckets -----------------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["hourly", "daily", "weekly", "total"])
def test_post_buckets_add_up_to_the_served_totals(sb: Sandbox, granularity: str) -> None:
    posts = recent_own(sb, 12)
    kinds = {p.kind for p in posts}
    assert {"original", "reply"} <= kinds
    assert any(p.has_link for p in posts)
    assert any(not p.has_link for p in posts)
    ids = ",".join(p.id for p in posts)
    lookup = analytics(
        sb, "/2/tweets", ids=ids, **{"tweet.fields": "public_metrics,non_public_metrics"}
    )
    totals = {item["id"]: served(item, TWEET_TOTALS) for item in lookup["data"]}
    start = min(p.created_ms for p in posts) // DAY * DAY - 7 * DAY
    body = analytics(
        sb,
        TWEETS,
        ids=ids,
        start_time=iso(start),
        end_time=iso(now_ms() + DAY),
        granularity=granularity,
        **{"analytics.fields": ALL_TWEET},
    )
    assert "errors" not in body
    assert [item["id"] for item in body["data"]] == [p.id for p in posts]
    for item in body["data"]:
        buckets = series(item)
        assert sums(buckets, TWEET_TOTALS) == totals[item["id"]]
        assert all(set(m) == set(TWEET_METRICS) for _at, m in buckets)
        assert all(isinstance(v, int) and v >= 0 for _at, m in buckets for v in m.values())
        world = sb.world.tweet_analytics(item["id"], granularity, start, now_ms() + DAY, now_ms())
        assert sums(buckets, TWEET_METRICS) == sums(world, TWEET_METRICS)


def test_figures_follow_the_served_totals_on_every_post(sb: Sandbox) -> None:
    world = sb.world
    now = now_ms()
    for post in world.timeline(world.main_user_id):
        buckets = world.tweet_analytics(post.id, "daily", post.created_ms, now + 1, now)
        assert sums(buckets, TWEET_TOTALS) == totals_of(post)
        assert sums(buckets, ["detail_expands"]) == {"detail_expands": post.extra["detail_expands"]}
        has_tags = bool((post.entities or {}).get("hashtags"))
        assert has_tags or all(m["hashtag_clicks"] == 0 for _at, m in buckets)
        assert post.media_keys or all(m["media_views"] == 0 for _at, m in buckets)


def own_video_posts(sb: Sandbox) -> dict[str, Post]:
    """Own videos -> a recent own post carrying them (its private media fields are served)."""
    found: dict[str, Post] = {}
    for post in recent_own(sb, 100):
        for key in post.media_keys:
            if sb.world.media[key].type == "video":
                found.setdefault(key, post)
    return found


@pytest.mark.parametrize("granularity", ["hourly", "daily", "total"])
def test_video_buckets_add_up_to_the_served_totals(sb: Sandbox, granularity: str) -> None:
    carriers = own_video_posts(sb)
    assert len(carriers) >= 4
    lookup = analytics(
        sb,
        "/2/tweets",
        ids=",".join(sorted({p.id for p in carriers.values()})),
        expansions="attachments.media_keys",
        **{"media.fields": "public_metrics,non_public_metrics"},
    )
    totals = {m["media_key"]: served(m, MEDIA_TOTALS) for m in lookup["includes"]["media"]}
    keys = list(carriers)
    firsts = [sb.world.media_owner(key) for key in keys]
    start = min(owner[1] for owner in firsts if owner is not None) - DAY
    body = analytics(
        sb,
        MEDIA,
        media_keys=",".join(keys),
        start_time=iso(start),
        end_time=iso(now_ms() + HOUR),
        granularity=granularity,
        **{"media_analytics.fields": ALL_MEDIA},
    )
    assert "errors" not in body
    assert [item["media_key"] for item in body["data"]] == keys
    for item in body["data"]:
        buckets = series(item)
        assert sums(buckets, MEDIA_TOTALS) == totals[item["media_key"]]
        numbers = [v for _at, m in buckets for k, v in m.items() if v != STRING_VALUE]
        assert all(isinstance(v, int) and v >= 0 for v in numbers)


def test_hourly_daily_and_weekly_buckets_are_aligned_and_complete(sb: Sandbox) -> None:
    post = recent_own(sb, 40)[-1]
    created = post.created_ms
    start = created - 3 * DAY + 90 * 60_000
    end = now_ms() + DAY
    before = now_ms()
    body = analytics(
        sb,
        TWEETS,
        ids=post.id,
        start_time=iso(start),
        end_time=iso(end),
        granularity="hourly",
        **{"analytics.fields": "impressions"},
    )
    after = now_ms()
    hourly = series(body["data"][0])
    stamps = [instant(at) for at, _m in hourly]
    assert stamps[0] == created // HOUR * HOUR
    assert all(b - a == HOUR for a, b in itertools.pairwise(stamps))
    last = iso(min(end - 1, after) // HOUR * HOUR)
    assert hourly[-1][0] in (last, iso(min(end - 1, before) // HOUR * HOUR))
    for granularity, size in (("daily", DAY), ("weekly", 7 * DAY)):
        got = series(
            analytics(
                sb,
                TWEETS,
                ids=post.id,
                start_time=iso(start),
                end_time=iso(end),
                granularity=granularity,
                **{"analytics.fields": "impressions"},
            )["data"][0]
        )
        starts = [instant(at) for at, _m in got]
        assert all(at % DAY == 0 for at in starts)
        days = {datetime.fromtimestamp(at // 1000, tz=timezone.utc).weekday() for at in starts}
        assert granularity == "daily" or days == {0}
        assert all(b - a == size for a, b in itertools.pairwise(starts))
        assert starts[0] <= created < starts[0] + size
        assert sums(got, ["impressions"]) == sums(hourly, ["impressions"])


def test_window_edges_total_and_posts_after_the_window(sb: Sandbox) -> None:
    post = recent_own(sb, 40)[-1]
    created = post.created_ms
    midnight = (created // DAY + 2) * DAY

    def ask(granularity: str, start: int, end: int) -> list[tuple[str, dict[str, Any]]]:
        body = analytics(
            sb,
            TWEETS,
            ids=post.id,
            start_time=iso(start),
            end_time=iso(end),
            granularity=granularity,
            **{"analytics.fields": "impressions,likes"},
        )
        world = sb.world.tweet_analytics(
            post.id, granularity, start, end, now_ms(), fields=("impressions", "likes")
        )
        assert series(body["data"][0]) == world
        return world

    daily = ask("daily", created - DAY, midnight)
    assert [at for at, _m in daily] == [iso(midnight - 2 * DAY), iso(midnight - DAY)]
    total = ask("total", created + HOUR + 30_000, midnight)
    assert [at for at, _m in total] == [iso(created + HOUR + 30_000)]
    within = ask("hourly", created + HOUR + 30_000, midnight)
    assert within[0][0] == iso((created + HOUR + 30_000) // HOUR * HOUR)
    assert within[-1][0] == iso(midnight - HOUR)
    assert ask("total", created - DAY, created) == []
    assert ask("hourly", created - DAY, created) == []
    assert len(ask("hourly", created - DAY, created + 1000)) == 1


def test_no_fields_asked_means_empty_metrics_and_default_granularities(sb: Sandbox) -> None:
    post = recent_own(sb, 40)[-1]
    start = post.created_ms - DAY
    body = analytics(sb, TWEETS, ids=post.id, start_time=iso(start), end_time=iso(now_ms()))
    assert series(body["data"][0]) == [(iso(start), {})]
    key = next(iter(own_video_posts(sb)))
    body = analytics(sb, MEDIA, media_keys=key, start_time=iso(start), end_time=iso(now_ms()))
    buckets = series(body["data"][0])
    assert buckets
    assert all(at.endswith("T00:00:00Z") and metrics == {} for at, metrics in buckets)


# --- evolution ------------------------------------------------------------------------------


def test_completed_buckets_never_change_and_growth_lands_in_its_bucket() -> None:
    generated = datetime.now(tz=timezone.utc).replace(microsecond=0) - timedelta(hours=5)
    with Sandbox(SandboxOptions(seed=11, posts=60, partner_posts=5, now=generated)) as sb:
        world = sb.world
        young = [p for p in world.timeline(world.main_user_id) if p.created_ms > now_ms() - 6 * DAY]
        videos = list(
            dict.fromkeys(k for p in young for k in p.media_keys if world.media[k].type == "video")
        )
        assert young
        start = min(p.created_ms for p in young) // DAY * DAY
        params = {"start_time": iso(start), "end_time": iso(now_ms() + DAY)}

        def read() -> tuple[dict[str, Any], dict[str, Any]]:
            tweets = analytics(
                sb,
                TWEETS,
                ids=",".join(p.id for p in young),
                granularity="hourly",
                **params,
                **{"analytics.fields": ALL_TWEET},
            )
            media: dict[str, Any] = {"data": []}
            if videos:
                media = analytics(
                    sb,
                    MEDIA,
                    media_keys=",".join(videos),
                    granularity="hourly",
                    **params,
                    **{"media_analytics.fields": ALL_MEDIA},
                )
            return tweets, media

        before_tweets, before_media = read()
        before_totals = {p.id: totals_of(p) for p in young}
        at = world.start_ms + 90 * 60_000
        with sb.app.lock:
            created = world.advance(new_posts=2, metric_growth=True, now_ms=at)
        assert world.clock_ms == at
        after_tweets, after_media = read()
        growth_bucket = iso(at // HOUR * HOUR)
        for before, after, key in (
            (before_tweets, after_tweets, "id"),
            (before_media, after_media, "media_key"),
        ):
            grown = 0
            for old, new in zip(before["data"], after["data"], strict=True):
                assert old[key] == new[key]
                old_b, new_b = dict(series(old)), dict(series(new))
                assert list(new_b)[: len(old_b)] == list(old_b)
                changed = [stamp for stamp in old_b if old_b[stamp] != new_b[stamp]]
                assert changed in ([], [growth_bucket])
                grown += len(changed)
            assert grown or not before["data"]
        for old, new in zip(before_tweets["data"], after_tweets["data"], strict=True):
            step = {
                name: dict(series(new))[growth_bucket][name]
                - dict(series(old))[growth_bucket][name]
                for name in TWEET_TOTALS
            }
            now_totals = totals_of(world.posts_by_id[new["id"]])
            assert step == {k: now_totals[k] - before_totals[new["id"]][k] for k in TWEET_TOTALS}
            assert step["impressions"] > 0
        for post in young:
            buckets = world.tweet_analytics(post.id, "daily", start, now_ms() + DAY, now_ms())
            assert sums(buckets, TWEET_TOTALS) == totals_of(post)
        for post in created:
            buckets = world.tweet_analytics(post.id, "hourly", start, now_ms() + DAY, now_ms())
            assert buckets[0][0] == iso(post.created_ms // HOUR * HOUR)
            assert sums(buckets, ["impressions"]) == {
                "impressions": post.non_public_metrics["impression_count"]
            }


def test_growth_at_the_real_clock_keeps_the_sums() -> None:
    with Sandbox(SandboxOptions(seed=5, posts=40, partner_posts=5)) as sb:
        post = sb.world.timeline(sb.world.main_user_id)[0]
        sb.advance(new_posts=1, metric_growth=True)
        body = analytics(
            sb,
            TWEETS,
            ids=post.id,
            start_time=iso(post.created_ms),
            end_time=iso(now_ms() + HOUR),
            granularity="hourly",
            **{"analytics.fields": "likes,impressions"},
        )
        assert sums(series(body["data"][0]), ["likes", "impressions"]) == {
            "likes": post.public_metrics["like_count"],
            "impressions": post.non_public_metrics["impression_count"],
        }


# --- the text counter -----------------------------------------------------------------------


def test_one_video_reports_watch_time_as_text_in_its_first_bucket(sb: Sandbox) -> None:
    world = sb.world
    key = world.string_counter_media_key
    assert key is not None
    assert key in world.videos_of(world.main_user_id)
    owner = world.media_owner(key)
    assert owner is not None
    first = owner[1]
    others = [k for k in world.videos_of(world.main_user_id) if k != key][:5]
    body = analytics(
        sb,
        MEDIA,
        media_keys=",".join([key, *others]),
        start_time=iso(first - DAY),
        end_time=iso(now_ms()),
        granularity="daily",
        **{"media_analytics.fields": ALL_MEDIA},
    )
    texts = [
        (item["media_key"], at)
        for item in body["data"]
        for at, m in series(item)
        if m[STRING_COUNTER] == STRING_VALUE
    ]
    assert texts == [(key, iso(first // DAY * DAY))]
    assert STRING_COUNTER == "watch_time_ms"
    buckets = series(body["data"][0])
    assert sums(buckets, MEDIA_TOTALS) == served(
        {
            "public_metrics": world.media[key].public_metrics,
            "non_public_metrics": world.media[key].non_public_metrics,
        },
        MEDIA_TOTALS,
    )
    untexted = World(
        seed=7,
        posts=240,
        partner_posts=40,
        lookup_posts=0,
        now=datetime.fromtimestamp(world.start_ms // 1000, tz=timezone.utc),
        string_counter=False,
    )
    assert untexted.string_counter_media_key is None
    plain = untexted.media_analytics(key, "daily", first - DAY, now_ms(), now_ms())
    assert all(isinstance(m[STRING_COUNTER], int) for _at, m in plain)
    texted = world.media_analytics(key, "daily", first - DAY, now_ms(), now_ms())
    assert [(at, m) for at, m in plain][1:] == texted[1:]
    assert {**plain[0][1], STRING_COUNTER: STRING_VALUE} == texted[0][1]


# --- who may read ---------------------------------------------------------------------------


def test_foreign_unknown_and_photo_resources_are_partial_errors(sb: Sandbox) -> None:
    world = sb.world
    own = recent_own(sb, 1)[0]
    partner = world.timeline(world.partner_user_id)[0]
    foreign = next(p for p in world.posts if p.author_id not in (own.author_id, partner.author_id))
    start, end = iso(now_ms() - 3 * DAY), iso(now_ms())
    body = analytics(
        sb, TWEETS, ids=f"{own.id},{partner.id},1,{foreign.id}", start_time=start, end_time=end
    )
    assert [item["id"] for item in body["data"]] == [own.id]

    def refused(kind: str, param: str, value: str, noun: str) -> dict[str, Any]:
        return {
            "value": value,
            "detail": f"Sorry, you are not authorized to see the {noun} with {param}: [{value}].",
            "title": "Authorization Error",
            "resource_type": kind,
            "parameter": param,
            "resource_id": value,
            "type": PROBLEMS + "not-authorized-for-resource",
        }

    def missing(kind: str, param: str, value: str) -> dict[str, Any]:
        return {
            "value": value,
            "detail": f"Could not find {kind} with {param}: [{value}].",
            "title": "Not Found Error",
            "resource_type": kind,
            "parameter": param,
            "resource_id": value,
            "type": PROBLEMS + "resource-not-found",
        }

    assert body["errors"] == [
        refused("tweet", "ids", partner.id, "Tweet"),
        missing("tweet", "ids", "1"),
        refused("tweet", "ids", foreign.id, "Tweet"),
    ]
    as_partner = analytics(
        sb,
        TWEETS,
        auth=oauth1(partner=True),
        ids=f"{partner.id},{own.id}",
        start_time=start,
        end_time=end,
    )
    assert [item["id"] for item in as_partner["data"]] == [partner.id]
    assert as_partner["errors"] == [refused("tweet", "ids", own.id, "Tweet")]
    video = world.videos_of(world.main_user_id)[0]
    partner_video = world.videos_of(world.partner_user_id)[0]
    by_type = {
        world.media[k].type: k for p in world.timeline(world.main_user_id) for k in p.media_keys
    }
    photo, gif = by_type["photo"], by_type["animated_gif"]
    body = analytics(
        sb,
        MEDIA,
        media_keys=f"{video},{partner_video},{photo},{gif},13_1",
        start_time=start,
        end_time=end,
    )
    assert [item["media_key"] for item in body["data"]] == [video]
    assert body["errors"] == [
        refused("media", "media_keys", partner_video, "media"),
        missing("media", "media_keys", photo),
        missing("media", "media_keys", gif),
        missing("media", "media_keys", "13_1"),
    ]


def test_app_only_tokens_are_refused_like_users_me(sb: Sandbox) -> None:
    me = get(sb, "/2/users/me", headers=BEARER)
    assert me.status_code == 403
    params = {"start_time": iso(now_ms() - DAY), "end_time": iso(now_ms())}
    for path, key in ((TWEETS, "ids"), (MEDIA, "media_keys")):
        value = "1" if key == "ids" else "13_1"
        response = get(sb, path, headers=BEARER, **{key: value}, **params)
        assert response.status_code == 403
        assert response.json() == me.json()
        assert response.json()["type"] == PROBLEMS + "unsupported-authentication"


def test_oauth2_user_tokens_may_read() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        token = requests.post(
            sb.url + "/2/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": CREDENTIALS["oauth2_refresh_token"],
            },
            auth=(CREDENTIALS["oauth2_client_id"], CREDENTIALS["oauth2_client_secret"]),
            timeout=10,
        ).json()["access_token"]
        post = sb.world.timeline(sb.world.main_user_id)[0]
        response = get(
            sb,
            TWEETS,
            headers={"Authorization": f"Bearer {token}"},
            ids=post.id,
            start_time=iso(post.created_ms),
            end_time=iso(now_ms()),
        )
        assert response.status_code == 200
        assert response.json()["data"][0]["id"] == post.id


def test_analytics_forbidden_refuses_everyone() -> None:
    options = SandboxOptions(posts=20, partner_posts=5, analytics_forbidden=True)
    with Sandbox(options) as sb:
        post = sb.world.timeline(sb.world.main_user_id)[0]
        params = {"start_time": iso(now_ms() - DAY), "end_time": iso(now_ms())}
        for path, extra in ((TWEETS, {"ids": post.id}), (MEDIA, {"media_keys": "13_1"})):
            for auth, headers in ((oauth1(), None), (None, BEARER)):
                response = get(sb, path, auth=auth, headers=headers, **extra, **params)
                assert response.status_code == 403
                body = response.json()
                assert body["title"] == "Client Forbidden"
                assert body["reason"] == "client-not-enrolled"
                assert body["type"] == PROBLEMS + "client-forbidden"
                assert response.headers["x-rate-limit-limit"] == "300"
        assert get(sb, "/2/users/me").status_code == 200
    args = build_parser().parse_args(["--analytics-forbidden", "--no-analytics-string-counter"])
    assert args.analytics_forbidden is True
    assert args.analytics_string_counter is False
    defaults = build_parser().parse_args([])
    assert (defaults.analytics_forbidden, defaults.analytics_string_counter) == (False, True)


# --- 400s -----------------------------------------------------------------------------------


def test_bad_parameters_are_invalid_requests(sb: Sandbox) -> None:
    own = recent_own(sb, 1)[0]
    now = now_ms()
    good = {"ids": own.id, "start_time": iso(now - DAY), "end_time": iso(now)}
    tweet_fields = ",".join(sorted((*TWEET_METRICS, "id", "timestamp", "timestamped_metrics")))

    def problem(name: str, value: str, message: str) -> dict[str, Any]:
        return {"parameters": {name: [value]}, "message": message}

    def bad(path: str = TWEETS, **changes: Any) -> list[dict[str, Any]]:
        params = {**good, **changes}
        if path == MEDIA:
            params["media_keys"] = params.pop("ids")
        return invalid(get(sb, path, **{k: v for k, v in params.items() if v is not None}))

    assert bad(**{"analytics.fields": "likes,clicks"}) == [
        problem(
            "analytics.fields",
            "clicks",
            f"The `analytics.fields` query parameter value [clicks] is not one of [{tweet_fields}]",
        )
    ]
    assert bad(**{"analytics.fields": "likes,impressions,likes"}) == [
        problem(
            "analytics.fields",
            "likes",
            "The `analytics.fields` query parameter value [likes] is repeated: values must be"
            " unique",
        )
    ]
    assert bad(ids=f"{own.id},{own.id}") == [
        problem(
            "ids",
            own.id,
            f"The `ids` query parameter value [{own.id}] is repeated: values must be unique",
        )
    ]
    assert bad(ids="") == [problem("ids", "", "The `ids` query parameter can not be empty")]
    many = ",".join(str(10**15 + i) for i in range(101))
    assert bad(ids=many) == [
        problem(
            "ids",
            many,
            "The number of values in the `ids` query parameter list [101] is not between 1 and 100",
        )
    ]
    assert bad(MEDIA, ids="13-5") == [
        problem(
            "media_keys",
            "13-5",
            "The `media_keys` query parameter value [13-5] does not match ^([0-9]+)_([0-9]+)$",
        )
    ]
    assert bad(start_time=None) == [
        problem("start_time", "", "The `start_time` query parameter can not be empty")
    ]
    assert bad(MEDIA, ids="13_1", end_time=None) == [
        problem("end_time", "", "The `end_time` query parameter can not be empty")
    ]
    assert bad(end_time="2026-01-01 00:00:00") == [
        problem(
            "end_time",
            "2026-01-01 00:00:00",
            "The `end_time` query parameter value [2026-01-01 00:00:00] is not a valid RFC3339"
            " date-time (YYYY-MM-DDTHH:mm:ssZ)",
        )
    ]
    future = iso(now + DAY)
    assert bad(start_time=future, end_time=iso(now + 2 * DAY)) == [
        problem(
            "start_time",
            future,
            f"Invalid 'start_time':'{future}'. 'start_time' must not be in the future",
        )
    ]
    for end in (good["start_time"], iso(now - 2 * DAY)):
        assert bad(end_time=end) == [
            problem(
                "start_time",
                good["start_time"],
                f"Invalid 'start_time':'{good['start_time']}'. 'start_time' must be before"
                f" 'end_time':'{end}'",
            )
        ]
    assert bad(granularity="monthly") == [
        problem(
            "granularity",
            "monthly",
            "The `granularity` query parameter value [monthly] is not one of"
            " [hourly,daily,weekly,total]",
        )
    ]
    assert bad(MEDIA, ids="13_1", granularity="weekly") == [
        problem(
            "granularity",
            "weekly",
            "The `granularity` query parameter value [weekly] is not one of [hourly,daily,total]",
        )
    ]
    assert bad(MEDIA, ids="13_1", **{"analytics.fields": "likes"}) == [
        problem(
            "analytics.fields",
            "likes",
            "The query parameter [analytics.fields] is not one of"
            " [end_time,granularity,media_analytics.fields,media_keys,start_time]",
        )
    ]
    assert get(sb, TWEETS, **good, **{"analytics.fields": "id,timestamp,likes"}).status_code == 200


# --- limits, faults, the request log -------------------------------------------------------


def test_rate_limits_faults_and_the_request_log() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        post = sb.world.timeline(sb.world.main_user_id)[0]
        params = {"ids": post.id, "start_time": iso(post.created_ms), "end_time": iso(now_ms())}
        first = get(sb, TWEETS, **params)
        second = get(sb, TWEETS, **params)
        media = get(
            sb,
            MEDIA,
            media_keys="13_1",
            start_time=params["start_time"],
            end_time=params["end_time"],
        )
        for response, remaining in ((first, "299"), (second, "298"), (media, "299")):
            assert response.status_code == 200
            assert response.headers["x-rate-limit-limit"] == "300"
            assert response.headers["x-rate-limit-remaining"] == remaining
            reset = int(response.headers["x-rate-limit-reset"])
            assert time.time() < reset <= time.time() + 901
        sb.add_fault(TWEETS, "rate_limit", retry_after=30)
        sb.add_fault(MEDIA, "503")
        limited = get(sb, TWEETS, **params)
        assert limited.status_code == 429
        assert limited.json() == {
            "title": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
            "detail": "Too Many Requests",
        }
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert abs(int(limited.headers["x-rate-limit-reset"]) - (time.time() + 30)) <= 2
        unavailable = get(
            sb,
            MEDIA,
            media_keys="13_1",
            start_time=params["start_time"],
            end_time=params["end_time"],
        )
        assert unavailable.status_code == 503
        assert get(sb, TWEETS, **params).status_code == 200
        log = [(r.route, r.status, r.fault, r.auth, r.user_id) for r in sb.requests]
        user = sb.world.main_user_id
        assert log == [
            (TWEETS, 200, None, "oauth1", user),
            (TWEETS, 200, None, "oauth1", user),
            (MEDIA, 200, None, "oauth1", user),
            (TWEETS, 429, "rate_limit", None, None),
            (MEDIA, 503, "503", None, None),
            (TWEETS, 200, None, "oauth1", user),
        ]
        assert sb.requests[0].params == params
    with Sandbox(SandboxOptions(posts=20, partner_posts=5, rate_limit=1)) as sb:
        post = sb.world.timeline(sb.world.main_user_id)[0]
        params = {"ids": post.id, "start_time": iso(post.created_ms), "end_time": iso(now_ms())}
        assert get(sb, TWEETS, **params).status_code == 200
        assert get(sb, TWEETS, **params).status_code == 429


def test_a_full_batch_of_hourly_buckets_answers_fast() -> None:
    with Sandbox(SandboxOptions(seed=7, posts=400, partner_posts=5)) as sb:
        now = now_ms()
        posts = [
            p for p in sb.world.timeline(sb.world.main_user_id) if p.created_ms > now - 30 * DAY
        ]
        ids = ",".join(p.id for p in posts[:100])
        started = time.perf_counter()
        body = analytics(
            sb,
            TWEETS,
            ids=ids,
            start_time=iso(now - 30 * DAY),
            end_time=iso(now),
            granularity="hourly",
            **{"analytics.fields": ALL_TWEET},
        )
        elapsed = time.perf_counter() - started
        assert len(body["data"]) == 100
        assert all(item["timestamped_metrics"] for item in body["data"])
        assert elapsed < 2.0, elapsed
