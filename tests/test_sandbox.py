"""The offline X API v2 sandbox, exercised over real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tap_twitter_metrics_sandbox.world import TWITTER_EPOCH_MS, World
from tests.sandbox_http import BEARER, get, oauth1

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from requests_oauthlib import OAuth1

    from tap_twitter_metrics_sandbox.world import Post

DAY = timedelta(days=1)
PROBLEMS = "https://api.twitter.com/2/problems/"


def api_second(post: Post) -> str:
    return post.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def age(post: Post) -> timedelta:
    return datetime.now(tz=timezone.utc) - post.created_at


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7)) as sandbox:
        yield sandbox


def paginate(
    sb: Sandbox, user_id: str, auth: OAuth1 | None = None, **params: Any
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = dict(params)
        if token:
            query["pagination_token"] = token
        response = get(sb, f"/2/users/{user_id}/tweets", auth=auth, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        token = body["meta"].get("next_token")
        if not token:
            return pages


# --- the world -------------------------------------------------------------------------------


def test_world_has_every_feature(sb: Sandbox) -> None:
    world = sb.world
    assert world.main_user_id == "1500000000000000001"
    assert world.partner_user_id == "1500000000000000002"
    assert world.users[world.main_user_id].username == "sandbox_brand"
    assert world.users[world.partner_user_id].username == "sandbox_partner"
    main = world.timeline(world.main_user_id)
    assert len(main) == 240
    assert len(world.timeline(world.partner_user_id)) == 40
    for post in world.posts:
        ms = int(post.created_at.timestamp() * 1000)
        assert (int(post.id) >> 22) + TWITTER_EPOCH_MS == ms
    assert [p.id for p in main] == sorted((p.id for p in main), key=int, reverse=True)
    recent = [p for p in main if age(p) < 30 * DAY]
    old = [p for p in main if age(p) > 30 * DAY]
    assert 40 <= len(recent) <= 80
    assert max(age(p) for p in main) < 121 * DAY
    for group in (recent, old):
        assert any(p.is_retweet for p in group)
        assert any(p.is_reply for p in group)
        assert any(p.has_link for p in group)
        assert any(not p.has_link and not p.is_retweet for p in group)
        types = {world.media[k].type for p in group for k in p.media_keys}
        assert types == {"photo", "video", "animated_gif"}
    assert any(p.promoted for p in recent)
    assert not any(p.promoted for p in old)
    prefixes = {"photo": "3_", "video": "13_", "animated_gif": "16_"}
    for key, media in world.media.items():
        assert key.startswith(prefixes[media.type])
    uses = Counter(k for p in main for k in p.media_keys)
    shared = [k for k, n in uses.items() if n == 3]
    assert len(shared) == 1
    assert world.media[shared[0]].type == "video"


def test_world_is_deterministic_for_a_seed() -> None:
    now = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)

    def snapshot(world: World) -> list[Any]:
        return [
            (p.id, p.text, p.public_metrics, p.non_public_metrics, p.promoted_metrics, p.media_keys)
            for p in world.posts
        ]

    one = World(seed=3, posts=120, partner_posts=20, lookup_posts=50, now=now)
    two = World(seed=3, posts=120, partner_posts=20, lookup_posts=50, now=now)
    other = World(seed=4, posts=120, partner_posts=20, lookup_posts=50, now=now)
    assert snapshot(one) == snapshot(two)
    assert one.summary(full=True) == two.summary(full=True)
    assert snapshot(one) != snapshot(other)


# --- authentication ---------------------------------------------------------------------------


def test_missing_or_wrong_credentials_get_401(sb: Sandbox) -> None:
    unauthorized = {"title": "Unauthorized", "type": "about:blank", "status": 401}
    unauthorized["detail"] = "Unauthorized"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = get(sb, "/2/users/me", headers=headers)
        assert response.status_code == 401
        assert response.json() == unauthorized


def test_oauth1_signature_is_verified(sb: Sandbox) -> None:
    good = get(sb, "/2/users/me", auth=oauth1())
    assert good.status_code == 200
    assert good.json() == {
        "data": {"id": sb.world.main_user_id, "name": "Sandbox Brand", "username": "sandbox_brand"}
    }
    bad = get(sb, "/2/users/me", auth=oauth1(secret="wrong-secret"))
    assert bad.status_code == 401
    partner = get(sb, "/2/users/me", auth=oauth1(partner=True), **{"user.fields": "created_at"})
    assert partner.json()["data"]["id"] == sb.world.partner_user_id
    assert "created_at" in partner.json()["data"]
    ids = ",".join(p.id for p in sb.world.timeline(sb.world.main_user_id)[:3])
    signed_query = get(sb, "/2/tweets", auth=oauth1(), ids=ids, **{"tweet.fields": "created_at"})
    assert signed_query.status_code == 200


def test_users_me_refuses_app_only(sb: Sandbox) -> None:
    response = get(sb, "/2/users/me")
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == PROBLEMS + "unsupported-authentication"
    assert body["status"] == 403


# --- users ------------------------------------------------------------------------------------


def test_user_lookups(sb: Sandbox) -> None:
    found = get(sb, "/2/users/by/username/Sandbox_Brand", **{"user.fields": "public_metrics"})
    data = found.json()["data"]
    assert data["id"] == sb.world.main_user_id
    assert set(data["public_metrics"]) == {
        "followers_count",
        "following_count",
        "tweet_count",
        "listed_count",
        "like_count",
    }
    missing = get(sb, "/2/users/by/username/nobody_here")
    assert missing.status_code == 200
    assert missing.json() == {
        "errors": [
            {
                "value": "nobody_here",
                "detail": "Could not find user with username: [nobody_here].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "username",
                "resource_id": "nobody_here",
                "type": PROBLEMS + "resource-not-found",
            }
        ]
    }
    ids = f"{sb.world.main_user_id},{sb.world.partner_user_id},42"
    many = get(sb, "/2/users", ids=ids).json()
    assert [u["id"] for u in many["data"]] == [sb.world.main_user_id, sb.world.partner_user_id]
    assert many["data"][0] == {
        "id": sb.world.main_user_id,
        "name": "Sandbox Brand",
        "username": "sandbox_brand",
    }
    assert [e["resource_id"] for e in many["errors"]] == ["42"]
    assert many["errors"][0]["detail"] == "Could not find user with ids: [42]."


# --- timelines --------------------------------------------------------------------------------


def test_timeline_pagination_covers_everything_once(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    expected = [p.id for p in sb.world.timeline(uid)]
    for size in (100, 7):
        pages = paginate(sb, uid, max_results=size)
        ids = [t["id"] for page in pages for t in page.get("data", [])]
        assert ids == expected
        for page in pages:
            meta = page["meta"]
            assert meta["result_count"] == len(page["data"])
            assert meta["newest_id"] == page["data"][0]["id"]
            assert meta["oldest_id"] == page["data"][-1]["id"]
            token = meta.get("next_token")
            assert token is None or token not in expected
        assert len(pages) == -(-len(expected) // size)
    first = get(sb, f"/2/users/{uid}/tweets").json()
    assert len(first["data"]) == 10


def test_timeline_previous_token_goes_back(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    first = get(sb, f"/2/users/{uid}/tweets", max_results=5).json()
    assert "previous_token" not in first["meta"]
    second = get(
        sb, f"/2/users/{uid}/tweets", max_results=5, pagination_token=first["meta"]["next_token"]
    ).json()
    back = get(
        sb,
        f"/2/users/{uid}/tweets",
        max_results=5,
        pagination_token=second["meta"]["previous_token"],
    ).json()
    assert [t["id"] for t in back["data"]] == [t["id"] for t in first["data"]]


def test_timeline_default_fields_and_projection(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    plain = get(sb, f"/2/users/{uid}/tweets", max_results=5).json()
    for tweet in plain["data"]:
        assert set(tweet) == {"id", "text", "edit_history_tweet_ids"}
    assert "includes" not in plain
    rich = get(
        sb,
        f"/2/users/{uid}/tweets",
        max_results=100,
        expansions="attachments.media_keys,author_id",
        **{"tweet.fields": "created_at,author_id", "media.fields": "type"},
    ).json()
    assert rich["includes"]["users"] == [
        {"id": uid, "name": "Sandbox Brand", "username": "sandbox_brand"}
    ]
    for media in rich["includes"]["media"]:
        assert set(media) == {"media_key", "type"}
    for tweet in rich["data"]:
        assert tweet["created_at"].endswith(".000Z")
        post = sb.world.post(tweet["id"])
        assert post is not None
        assert tweet["created_at"] == post.created_at_api
        if post.media_keys:
            assert tweet["attachments"] == {"media_keys": post.media_keys}
        else:
            assert "attachments" not in tweet


def test_timeline_excludes(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    timeline = sb.world.timeline(uid)
    cases: tuple[tuple[str, Callable[[Post], bool]], ...] = (
        ("retweets", lambda p: not p.is_retweet),
        ("replies", lambda p: not p.is_reply),
        ("retweets,replies", lambda p: not p.is_retweet and not p.is_reply),
    )
    for exclude, keep in cases:
        pages = paginate(sb, uid, max_results=100, exclude=exclude)
        ids = [t["id"] for page in pages for t in page.get("data", [])]
        assert ids == [p.id for p in timeline if keep(p)]


def test_timeline_max_results_bounds(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    response = get(sb, f"/2/users/{uid}/tweets", max_results=0)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "parameters": {"max_results": ["0"]},
                "message": "The `max_results` query parameter value [0] is not between 5 and 100",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }
    for value in (4, 101, "x"):
        assert get(sb, f"/2/users/{uid}/tweets", max_results=value).status_code == 400
    for value in (5, 100):
        assert get(sb, f"/2/users/{uid}/tweets", max_results=value).status_code == 200
    bad = get(sb, f"/2/users/{uid}/tweets", **{"tweet.fields": "public_metrics,nonsense"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["parameters"] == {"tweet.fields": ["nonsense"]}


def test_timeline_time_and_id_filters(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    timeline = sb.world.timeline(uid)
    newer, older = timeline[100], timeline[110]
    body = get(
        sb,
        f"/2/users/{uid}/tweets",
        max_results=100,
        start_time=api_second(older),
        end_time=api_second(newer),
    ).json()
    assert [t["id"] for t in body["data"]] == [p.id for p in timeline[100:111]]
    single = get(
        sb,
        f"/2/users/{uid}/tweets",
        max_results=5,
        start_time=api_second(newer),
        end_time=api_second(newer),
    ).json()
    assert [t["id"] for t in single["data"]] == [newer.id]
    by_id = get(
        sb, f"/2/users/{uid}/tweets", max_results=100, since_id=older.id, until_id=newer.id
    ).json()
    assert [t["id"] for t in by_id["data"]] == [p.id for p in timeline[101:110]]
    empty = get(sb, f"/2/users/{uid}/tweets", since_id=timeline[0].id)
    assert empty.status_code == 200
    assert empty.json() == {"meta": {"result_count": 0}}
    bad = get(sb, f"/2/users/{uid}/tweets", start_time="2024-01-01 00:00:00")
    assert bad.status_code == 400


def test_timeline_private_fields_only_last_30_days(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    fields = {"tweet.fields": "non_public_metrics,organic_metrics,promoted_metrics"}
    pages = paginate(sb, uid, auth=oauth1(), max_results=100, **fields)
    tweets = [t for page in pages for t in page.get("data", [])]
    expected = [p for p in sb.world.timeline(uid) if age(p) < 30 * DAY]
    assert [t["id"] for t in tweets] == [p.id for p in expected]
    for tweet, post in zip(tweets, expected, strict=True):
        assert (
            tweet["organic_metrics"]["impression_count"]
            == (post.organic_metrics["impression_count"])
        )
        assert ("promoted_metrics" in tweet) == post.promoted
        assert ("url_link_clicks" in tweet["non_public_metrics"]) == post.has_link
        assert ("url_link_clicks" in tweet["organic_metrics"]) == post.has_link
        assert set(tweet["non_public_metrics"]) >= {
            "impression_count",
            "user_profile_clicks",
            "engagements",
        }
    assert not any("errors" in page for page in pages)


def test_timeline_private_fields_on_foreign_posts_are_dropped(sb: Sandbox) -> None:
    pid = sb.world.partner_user_id
    pages = paginate(
        sb, pid, auth=oauth1(), max_results=5, **{"tweet.fields": "non_public_metrics"}
    )
    recent = [p for p in sb.world.timeline(pid) if age(p) < 30 * DAY]
    assert all("data" not in page for page in pages)
    assert all(page["meta"]["result_count"] == 0 for page in pages)
    assert len(pages) == -(-len(recent) // 5)
    assert any("next_token" in page["meta"] for page in pages)
    errors = [e for page in pages for e in page["errors"]]
    assert len(errors) == 4 * len(recent)
    assert {e["resource_id"] for e in errors} == {p.id for p in recent}


def test_timeline_unknown_user(sb: Sandbox) -> None:
    body = get(sb, "/2/users/42/tweets").json()
    assert body["errors"][0]["title"] == "Not Found Error"
    assert "data" not in body


def test_timeline_reach_is_capped() -> None:
    with Sandbox(SandboxOptions(seed=2, posts=3300, partner_posts=5)) as big:
        uid = big.world.main_user_id
        timeline = big.world.timeline(uid)
        pages = paginate(big, uid, max_results=100)
        ids = [t["id"] for page in pages for t in page.get("data", [])]
        assert ids == [p.id for p in timeline[:3200]]
        pages = paginate(big, uid, max_results=100, exclude="replies")
        ids = [t["id"] for page in pages for t in page.get("data", [])]
        assert ids == [p.id for p in timeline[:800] if not p.is_reply]


# --- lookups ----------------------------------------------------------------------------------


def test_lookup_drops_refused_posts_with_field_errors(sb: Sandbox) -> None:
    main = sb.world.timeline(sb.world.main_user_id)
    recent = next(p for p in main if 2 * DAY < age(p) < 20 * DAY)
    old = next(p for p in main if age(p) > 40 * DAY)
    foreign = next(p for p in sb.world.timeline(sb.world.partner_user_id) if age(p) < 20 * DAY)
    ids = [old.id, recent.id, foreign.id, "1"]
    response = get(
        sb,
        "/2/tweets",
        auth=oauth1(),
        ids=",".join(ids),
        **{"tweet.fields": "public_metrics,non_public_metrics,organic_metrics"},
    )
    assert response.status_code == 200
    body = response.json()
    assert [t["id"] for t in body["data"]] == [recent.id]
    errors = body["errors"]
    assert errors[0] == {
        "value": "1",
        "detail": "Could not find tweet with ids: [1].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": "1",
        "type": PROBLEMS + "resource-not-found",
    }
    field_errors = errors[1:]
    assert len(field_errors) == 2 * (4 + 6)
    assert Counter(e["resource_id"] for e in field_errors) == {old.id: 10, foreign.id: 10}
    assert field_errors[0] == {
        "resource_type": "tweet",
        "field": "non_public_metrics.impression_count",
        "parameter": "ids",
        "resource_id": old.id,
        "title": "Field Authorization Error",
        "section": "data",
        "value": old.id,
        "detail": "Sorry, you are not authorized to access 'non_public_metrics.impression_count'"
        f" on the Tweet with ids : [{old.id}].",
        "type": PROBLEMS + "not-authorized-for-field",
    }
    fields = {e["field"] for e in field_errors}
    assert "organic_metrics.retweet_count" in fields
    assert "non_public_metrics.engagements" in fields
    public = get(sb, "/2/tweets", ids=",".join(ids[:3]), **{"tweet.fields": "public_metrics"})
    assert [t["id"] for t in public.json()["data"]] == ids[:3]
    bearer_private = get(sb, "/2/tweets", ids=recent.id, **{"tweet.fields": "organic_metrics"})
    assert "data" not in bearer_private.json()
    assert len(bearer_private.json()["errors"]) == 6


def test_lookup_parameter_rules(sb: Sandbox) -> None:
    post_ids = [p.id for p in sb.world.posts[:101]]
    assert get(sb, "/2/tweets", ids=",".join(post_ids[:100])).status_code == 200
    assert get(sb, "/2/tweets", ids=",".join(post_ids)).status_code == 400
    assert get(sb, "/2/tweets", ids="").status_code == 400
    assert get(sb, "/2/tweets", ids="12x").status_code == 400
    dup = requests.get(
        f"{sb.url}/2/tweets?ids={post_ids[0]}&ids={post_ids[1]}", headers=BEARER, timeout=10
    )
    assert dup.status_code == 400
    assert dup.json()["title"] == "Invalid Request"
    unknown = get(sb, "/2/tweets", ids=post_ids[0], foo="bar")
    assert unknown.status_code == 400


def test_single_lookup(sb: Sandbox) -> None:
    post = sb.world.timeline(sb.world.main_user_id)[0]
    found = get(sb, f"/2/tweets/{post.id}").json()
    assert found == {
        "data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
    }
    missing = get(sb, "/2/tweets/2")
    assert missing.status_code == 200
    assert missing.json() == {
        "errors": [
            {
                "value": "2",
                "detail": "Could not find tweet with id: [2].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": "2",
                "type": PROBLEMS + "resource-not-found",
            }
        ]
    }
    with Sandbox(SandboxOptions(posts=10, partner_posts=5, not_found_variant="404")) as other:
        response = get(other, "/2/tweets/2")
        assert response.status_code == 404
        assert response.json()["type"] == PROBLEMS + "resource-not-found"


def test_protected_author_is_an_authorization_error(sb: Sandbox) -> None:
    locked = next(p for p in sb.world.posts if sb.world.users[p.author_id].protected)
    body = get(sb, "/2/tweets", ids=locked.id).json()
    assert "data" not in body
    assert body["errors"][0]["title"] == "Authorization Error"
    assert body["errors"][0]["type"] == PROBLEMS + "not-authorized-for-resource"


def test_media_metrics_only_on_videos_and_one_figure_per_key(sb: Sandbox) -> None:
    main = sb.world.timeline(sb.world.main_user_id)
    uses = Counter(k for p in main for k in p.media_keys)
    shared = next(k for k, n in uses.items() if n == 3)
    with_media = [p for p in main if p.media_keys][:95]
    carriers = [p for p in main if shared in p.media_keys]
    ids = list(dict.fromkeys([p.id for p in carriers] + [p.id for p in with_media]))[:100]
    body = get(
        sb,
        "/2/tweets",
        ids=",".join(ids),
        expansions="attachments.media_keys",
        **{"media.fields": "public_metrics,variants,duration_ms"},
    ).json()
    assert "errors" not in body
    media = body["includes"]["media"]
    keys = [m["media_key"] for m in media]
    assert len(keys) == len(set(keys))
    types = {m["type"] for m in media}
    assert types == {"photo", "video", "animated_gif"}
    for item in media:
        world_media = sb.world.media[item["media_key"]]
        if item["type"] == "video":
            assert world_media.public_metrics is not None
            assert item["public_metrics"] == {
                "view_count": world_media.public_metrics["view_count"]
            }
            assert "duration_ms" in item
        else:
            assert "public_metrics" not in item
    shared_items = [m for m in media if m["media_key"] == shared]
    assert len(shared_items) == 1


def test_link_clicks_absent_without_link(sb: Sandbox) -> None:
    recent = [p for p in sb.world.timeline(sb.world.main_user_id) if age(p) < 25 * DAY]
    body = get(
        sb,
        "/2/tweets",
        auth=oauth1(),
        ids=",".join(p.id for p in recent),
        **{"tweet.fields": "organic_metrics,entities"},
    ).json()
    by_id = {t["id"]: t for t in body["data"]}
    assert any(p.has_link for p in recent)
    assert any(not p.has_link for p in recent)
    for post in recent:
        assert ("url_link_clicks" in by_id[post.id]["organic_metrics"]) == post.has_link


def test_promoted_variants_and_repost_key() -> None:
    options: dict[str, Any] = {"seed": 5, "posts": 80, "partner_posts": 5}
    with (
        Sandbox(SandboxOptions(**options, promoted_variant="absent")) as absent,
        Sandbox(
            SandboxOptions(**options, promoted_variant="blank", retweet_key="repost_count")
        ) as blank,
    ):
        recent = [p for p in absent.world.timeline(absent.world.main_user_id) if age(p) < 25 * DAY]
        promoted = next(p for p in recent if p.promoted and not p.is_retweet)
        organic = next(p for p in recent if not p.promoted)
        fields = {"tweet.fields": "promoted_metrics,public_metrics"}
        ids = f"{promoted.id},{organic.id}"
        one = get(absent, "/2/tweets", auth=oauth1(), ids=ids, **fields).json()
        assert [t["id"] for t in one["data"]] == [promoted.id, organic.id]
        assert "promoted_metrics" in one["data"][0]
        assert "promoted_metrics" not in one["data"][1]
        assert "retweet_count" in one["data"][0]["public_metrics"]
        two = get(blank, "/2/tweets", auth=oauth1(), ids=ids, **fields)
        assert two.status_code == 200
        assert two.json() == {}
        three = get(blank, "/2/tweets", auth=oauth1(), ids=promoted.id, **fields).json()
        assert "repost_count" in three["data"][0]["public_metrics"]
        assert "repost_count" in three["data"][0]["promoted_metrics"]
        assert "retweet_count" not in three["data"][0]["public_metrics"]


# --- rate limits ------------------------------------------------------------------------------


def test_rate_limit_headers_and_429() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5, rate_limit=3, window_seconds=1)) as sb:
        uid = sb.world.main_user_id
        remaining = []
        for _ in range(3):
            response = get(sb, f"/2/users/{uid}/tweets")
            assert response.status_code == 200
            assert response.headers["x-rate-limit-limit"] == "3"
            remaining.append(response.headers["x-rate-limit-remaining"])
        assert remaining == ["2", "1", "0"]
        spent = get(sb, f"/2/users/{uid}/tweets")
        assert spent.status_code == 429
        assert spent.json() == {
            "title": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
            "detail": "Too Many Requests",
        }
        reset = int(spent.headers["x-rate-limit-reset"])
        assert time.time() - 1 <= reset <= time.time() + 2
        assert get(sb, f"/2/users/{uid}/tweets", auth=oauth1()).status_code == 200
        assert get(sb, "/2/users/by/username/sandbox_brand").status_code == 200
        time.sleep(max(0.0, reset - time.time()) + 0.05)
        assert get(sb, f"/2/users/{uid}/tweets").status_code == 200


def test_published_limits_by_default(sb: Sandbox) -> None:
    uid = sb.world.main_user_id
    assert get(sb, f"/2/users/{uid}/tweets").headers["x-rate-limit-limit"] == "10000"
    assert get(sb, f"/2/users/{uid}/tweets", auth=oauth1()).headers["x-rate-limit-limit"] == "900"
    assert get(sb, "/2/users/me", auth=oauth1()).headers["x-rate-limit-limit"] == "75"


# --- faults -----------------------------------------------------------------------------------


def test_faults_fire_on_the_nth_matching_request() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        path = f"/2/users/{sb.world.main_user_id}/tweets"
        route = "/2/users/:id/tweets"
        sb.add_fault(route=route, kind="503", nth=2, times=2)
        assert get(sb, "/2/users/by/username/sandbox_brand").status_code == 200
        statuses = [get(sb, path).status_code for _ in range(4)]
        assert statuses == [200, 503, 503, 200]

        def once(kind: str, **extra: Any) -> requests.Response:
            sb.add_fault(route=route, kind=kind, **extra)
            return get(sb, path)

        assert once("500").status_code == 500
        assert once("401").json()["title"] == "Unauthorized"
        forbidden = once("403")
        assert forbidden.status_code == 403
        assert forbidden.json()["reason"] == "client-not-enrolled"
        assert forbidden.json()["title"] == "Client Forbidden"
        capped = once("usage_cap")
        assert capped.status_code == 429
        assert capped.json()["type"] == PROBLEMS + "usage-capped"
        limited = once("rate_limit", retry_after=30)
        assert limited.status_code == 429
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert abs(int(limited.headers["x-rate-limit-reset"]) - (time.time() + 30)) <= 2
        truncated = once("truncated")
        assert truncated.status_code == 200
        with pytest.raises(requests.exceptions.JSONDecodeError):
            truncated.json()
        invalid = once("invalid_json")
        assert invalid.status_code == 200
        with pytest.raises(requests.exceptions.JSONDecodeError):
            invalid.json()
        sb.add_fault(route=route, kind="reset")
        with pytest.raises(requests.exceptions.ConnectionError):
            get(sb, path)
        sb.add_fault(route=route, kind="timeout", delay=0.5)
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(sb.url + path, headers=BEARER, timeout=0.1)
        assert get(sb, path).status_code == 200
        time.sleep(0.6)
        kinds = [r.fault for r in sb.requests if r.fault]
        assert kinds == [
            "503",
            "503",
            "500",
            "401",
            "403",
            "usage_cap",
            "rate_limit",
            "truncated",
            "invalid_json",
            "reset",
            "timeout",
        ]
        with pytest.raises(ValueError, match="unknown fault kind"):
            sb.add_fault(route=route, kind="explode")


def test_request_log(sb: Sandbox) -> None:
    sb.clear_requests()
    uid = sb.world.main_user_id
    get(sb, f"/2/users/{uid}/tweets", max_results=5)
    get(sb, "/2/users/me", auth=oauth1())
    log = sb.requests
    assert [(r.method, r.route, r.status, r.auth, r.user_id) for r in log] == [
        ("GET", "/2/users/:id/tweets", 200, "bearer", None),
        ("GET", "/2/users/me", 200, "oauth1", uid),
    ]
    assert log[0].params == {"max_results": "5"}
    assert log[0].path == f"/2/users/{uid}/tweets"


# --- OAuth 2.0 --------------------------------------------------------------------------------


def token_request(sb: Sandbox, data: dict[str, str], basic: bool = True) -> requests.Response:
    auth = (CREDENTIALS["oauth2_client_id"], CREDENTIALS["oauth2_client_secret"])
    return requests.post(
        sb.url + "/2/oauth2/token", data=data, auth=auth if basic else None, timeout=10
    )


def test_refresh_tokens_rotate_and_are_single_use() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        first = CREDENTIALS["oauth2_refresh_token"]
        grant = {"grant_type": "refresh_token", "refresh_token": first}
        response = token_request(sb, {**grant, "client_id": CREDENTIALS["oauth2_client_id"]})
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 7200
        assert body["scope"] == "tweet.read users.read offline.access"
        assert body["refresh_token"] != first
        me = get(sb, "/2/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.json()["data"]["id"] == sb.world.main_user_id
        assert (sb.requests[-1].auth, sb.requests[-1].user_id) == ("oauth2", sb.world.main_user_id)
        reused = token_request(sb, grant)
        assert reused.status_code == 400
        assert reused.json() == {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        }
        public_client = token_request(
            sb,
            {
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
                "client_id": CREDENTIALS["oauth2_client_id"],
            },
            basic=False,
        )
        assert public_client.status_code == 200
        wrong_secret = requests.post(
            sb.url + "/2/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": sb.issue_refresh_token()},
            auth=(CREDENTIALS["oauth2_client_id"], "nope"),
            timeout=10,
        )
        assert wrong_secret.status_code == 401
    with Sandbox(SandboxOptions(posts=10, partner_posts=5, oauth2_access_ttl=0)) as expired:
        token = token_request(
            expired, {"grant_type": "refresh_token", "refresh_token": first}
        ).json()
        stale = get(
            expired, "/2/users/me", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert stale.status_code == 401


def test_authorization_code_with_pkce() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        redirect = "http://127.0.0.1:9/callback"

        def authorize() -> dict[str, list[str]]:
            response = requests.get(
                sb.url + "/i/oauth2/authorize",
                params={
                    "response_type": "code",
                    "client_id": CREDENTIALS["oauth2_client_id"],
                    "redirect_uri": redirect,
                    "scope": "tweet.read users.read offline.access",
                    "state": "xyz",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302
            location = urlsplit(response.headers["Location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
            return parse_qs(location.query)

        query = authorize()
        assert query["state"] == ["xyz"]
        exchange = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect,
            "client_id": CREDENTIALS["oauth2_client_id"],
            "code_verifier": "not-the-verifier",
        }
        assert token_request(sb, exchange, basic=False).status_code == 400
        exchange["code"] = authorize()["code"][0]
        exchange["code_verifier"] = verifier
        tokens = token_request(sb, exchange, basic=False)
        assert tokens.status_code == 200
        assert "refresh_token" in tokens.json()
        assert token_request(sb, exchange, basic=False).status_code == 400
        refreshed = token_request(
            sb, {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
        )
        assert refreshed.status_code == 200


# --- evolution, admin, CLI --------------------------------------------------------------------


def test_advance_is_deterministic_and_grows_young_posts_only() -> None:
    now = datetime.now(tz=timezone.utc).replace(microsecond=0)
    one = Sandbox(SandboxOptions(seed=11, posts=60, partner_posts=5, now=now))
    two = Sandbox(SandboxOptions(seed=11, posts=60, partner_posts=5, now=now))
    uid = one.world.main_user_id
    before = {p.id: dict(p.public_metrics) for p in one.world.posts}
    created_one = one.advance(new_posts=4, metric_growth=True)
    created_two = two.advance(new_posts=4, metric_growth=True)
    assert [p.text for p in created_one] == [p.text for p in created_two]
    assert [p.public_metrics for p in created_one] == [p.public_metrics for p in created_two]
    timeline = one.world.timeline(uid)
    assert [p.id for p in timeline[:4]] == [p.id for p in reversed(created_one)]
    assert one.world.users[uid].public_metrics["tweet_count"] == 64
    grown = [p for p in one.world.posts if p.id in before and p.public_metrics != before[p.id]]
    assert grown
    assert all(age(p) < 7 * DAY for p in grown)
    young = [p for p in one.world.posts if p.id in before and age(p) < 7 * DAY]
    assert all(
        p.public_metrics["impression_count"] > before[p.id]["impression_count"] for p in young
    )
    assert [p.public_metrics for p in one.world.posts if p.id in before] == [
        p.public_metrics for p in two.world.posts if p.id in before
    ]


def test_admin_endpoints() -> None:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as sb:
        world = requests.get(sb.url + "/_sandbox/world", timeout=10).json()
        assert world["main_user_id"] == sb.world.main_user_id
        assert len(world["posts"]) == 25
        fault = requests.post(
            sb.url + "/_sandbox/faults", json={"route": "/2/tweets/:id", "kind": "503"}, timeout=10
        )
        assert fault.status_code == 200
        post_id = sb.world.timeline(sb.world.main_user_id)[0].id
        assert get(sb, f"/2/tweets/{post_id}").status_code == 503
        advanced = requests.post(sb.url + "/_sandbox/advance", json={"new_posts": 2}, timeout=10)
        assert len(advanced.json()["created"]) == 2
        log = requests.get(sb.url + "/_sandbox/requests", timeout=10).json()
        assert [(r["route"], r["status"], r["fault"]) for r in log] == [
            ("/2/tweets/:id", 503, "503")
        ]
        bad = requests.post(sb.url + "/_sandbox/faults", json={"kind": "503"}, timeout=10)
        assert bad.status_code == 400


def test_config_for(sb: Sandbox) -> None:
    assert sb.config_for("bearer") == {
        "api_url": sb.url,
        "bearer_token": CREDENTIALS["bearer_token"],
    }
    assert sb.config_for("partner_oauth1")["access_token"] == (
        "1500000000000000002-partneraccesstoken"
    )
    assert sb.config_for("oauth2")["oauth2_refresh_token"] == "sandbox-refresh-token-0"
    assert set(sb.config_for("oauth1")) == {
        "api_url",
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
    }
    with pytest.raises(ValueError, match="unknown config kind"):
        sb.config_for("basic")


def test_cli_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_twitter_metrics_sandbox.cli", "--port", "0", "--posts", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = requests.get(
            url + "/2/users/by/username/sandbox_brand", headers=BEARER, timeout=10
        )
        assert json.loads(response.text)["data"]["username"] == "sandbox_brand"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
