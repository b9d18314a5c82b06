"""What the sandbox serves beyond the plain API, each only when asked for.

Spec 2.167 spelling (`spelling="2.167"`), odd text, poisoned figures, broken timeline paging
and a missing media include: the shapes a newer or broken X sends, exact on the wire.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_twitter_metrics_sandbox import (
    ODD_TEXTS,
    POISONED_POST_VALUES,
    Oddities,
    Sandbox,
    SandboxOptions,
)
from tap_twitter_metrics_sandbox.api import POST_FIELDS, TWEET_FIELDS, TWEET_PARAMS
from tap_twitter_metrics_sandbox.cli import build_parser
from tap_twitter_metrics_sandbox.world import DAY_MS, World
from tests.sandbox_http import get, oauth1

if TYPE_CHECKING:
    from collections.abc import Iterator

OLD = "https://api.twitter.com/2/problems/"
NEW = "https://api.x.com/2/problems/"
JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=timezone.utc)
ODDITIES = Oddities(odd_text=True, poison_metrics=True, missing_media_include=True)


def invalid(*problems: dict[str, Any], kinds: str = NEW) -> dict[str, Any]:
    return {
        "errors": list(problems),
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": kinds + "invalid-request",
    }


def not_one_of(name: str, value: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    return {
        "parameters": {name: [value]},
        "message": f"The `{name}` query parameter value [{value}] is not one of"
        f" [{','.join(allowed)}]",
    }


@pytest.fixture(scope="module")
def x() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7, posts=120, partner_posts=20, spelling="2.167")) as sb:
        yield sb


@pytest.fixture(scope="module")
def odd() -> Iterator[Sandbox]:
    options = SandboxOptions(
        seed=7,
        posts=120,
        partner_posts=20,
        odd_text=True,
        poison_metrics=True,
        missing_media_include=True,
    )
    with Sandbox(options) as sb:
        yield sb


# --- spec 2.167 spelling ----------------------------------------------------------------------


def test_2167_names_posts_and_users_anew(x: Sandbox) -> None:
    main = x.world.timeline(x.world.main_user_id)
    path = f"/2/users/{x.world.main_user_id}/tweets"
    old_names = get(
        x, path, max_results=100, **{"tweet.fields": "public_metrics,referenced_tweets"}
    )
    new_names = get(x, path, max_results=100, **{"post.fields": "public_metrics,referenced_posts"})
    assert old_names.status_code == new_names.status_code == 200
    assert old_names.content == new_names.content
    tweets = new_names.json()["data"]
    for tweet, post in zip(tweets, main, strict=False):
        assert tweet["edit_history_post_ids"] == [post.id]
        assert "edit_history_tweet_ids" not in tweet
        metrics = tweet["public_metrics"]
        assert metrics["repost_count"] == post.public_metrics["retweet_count"]
        assert "retweet_count" not in metrics
        assert ("referenced_posts" in tweet) == bool(post.referenced_tweets)
        assert tweet.get("referenced_posts") == post.referenced_tweets
        assert "referenced_tweets" not in tweet
    user = get(x, "/2/users/by/username/sandbox_brand", **{"user.fields": "public_metrics"}).json()
    counts = user["data"]["public_metrics"]
    assert counts["post_count"] == x.world.users[x.world.main_user_id].public_metrics["tweet_count"]
    assert "tweet_count" not in counts
    own = next(p for p in main if p.created_ms > x.world.start_ms - 20 * DAY_MS)
    mine = get(x, "/2/tweets", auth=oauth1(), ids=own.id, **{"post.fields": "organic_metrics"})
    assert "repost_count" in mine.json()["data"][0]["organic_metrics"]


def test_2167_post_fields_take_the_new_names_only(x: Sandbox) -> None:
    post = x.world.timeline(x.world.main_user_id)[0]
    assert "author_id" not in POST_FIELDS
    assert "in_reply_to_user_id" not in POST_FIELDS
    assert {"edit_history_post_ids", "referenced_posts"} <= set(POST_FIELDS)
    routes = ("/2/tweets", f"/2/tweets/{post.id}", f"/2/users/{x.world.main_user_id}/tweets")
    for path in routes:
        extra = {"ids": post.id} if path == "/2/tweets" else {}
        for value in ("author_id", "in_reply_to_user_id", "edit_history_tweet_ids"):
            response = get(x, path, **extra, **{"post.fields": f"created_at,{value}"})
            assert response.status_code == 400
            assert response.headers["Content-Type"] == PROBLEM_JSON
            assert response.json() == invalid(not_one_of("post.fields", value, POST_FIELDS))
        old = get(x, path, **extra, **{"tweet.fields": "referenced_posts"})
        assert old.json() == invalid(not_one_of("tweet.fields", "referenced_posts", TWEET_FIELDS))
        assert get(x, path, **extra, **{"tweet.fields": "author_id"}).status_code == 200
        assert get(x, path, **extra, **{"post.fields": "created_at"}).status_code == 200


def test_2167_refuses_post_fields_and_tweet_fields_together(x: Sandbox) -> None:
    post = x.world.timeline(x.world.main_user_id)[0]
    both = {"post.fields": "created_at", "tweet.fields": "created_at"}
    response = get(x, "/2/tweets", ids=post.id, **both)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert response.json() == invalid(
        {
            "parameters": {"post.fields": ["created_at"], "tweet.fields": ["created_at"]},
            "message": "The `post.fields` and `tweet.fields` query parameters can not be used"
            " together",
        }
    )
    twice = get(x, "/2/tweets", ids=post.id, **{"post.fields": "lang,lang"})
    assert twice.json() == invalid(
        {
            "parameters": {"post.fields": ["lang"]},
            "message": "The `post.fields` query parameter value [lang] is repeated: values must"
            " be unique",
        }
    )


def test_2167_problems_live_under_api_x_com(x: Sandbox) -> None:
    missing = get(x, "/2/tweets", ids="2")
    assert missing.status_code == 200
    assert missing.headers["Content-Type"] == JSON
    assert missing.json()["errors"][0]["type"] == NEW + "resource-not-found"
    app_only = get(x, "/2/users/me")
    assert app_only.status_code == 403
    assert app_only.headers["Content-Type"] == PROBLEM_JSON
    assert app_only.json()["type"] == NEW + "unsupported-authentication"
    unauthorized = requests.get(x.url + "/2/users/me", timeout=10)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Content-Type"] == PROBLEM_JSON
    assert unauthorized.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    x.add_fault("/2/tweets", "usage_cap")
    capped = get(x, "/2/tweets", ids="2")
    assert capped.status_code == 429
    assert capped.headers["Content-Type"] == PROBLEM_JSON
    assert capped.json()["type"] == NEW + "usage-capped"
    unknown = get(x, "/2/tweets", ids="2", foo="bar")
    allowed = ",".join(sorted(("ids", *TWEET_PARAMS, "post.fields")))
    assert unknown.json() == invalid(
        {
            "parameters": {"foo": ["bar"]},
            "message": f"The query parameter [foo] is not one of [{allowed}]",
        }
    )


def test_2167_refused_private_fields_are_field_unauthorized(x: Sandbox) -> None:
    main = x.world.timeline(x.world.main_user_id)
    old = next(p for p in main if p.created_ms < x.world.start_ms - 40 * DAY_MS)
    response = get(x, "/2/tweets", auth=oauth1(), ids=old.id, **{"post.fields": "organic_metrics"})
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert [e["field"] for e in body["errors"]] == [
        "organic_metrics.impression_count",
        "organic_metrics.like_count",
        "organic_metrics.reply_count",
        "organic_metrics.repost_count",
        "organic_metrics.url_link_clicks",
        "organic_metrics.user_profile_clicks",
    ]
    assert body["errors"][0] == {
        "resource_type": "tweet",
        "field": "organic_metrics.impression_count",
        "parameter": "ids",
        "resource_id": old.id,
        "title": "Field Authorization Error",
        "section": "data",
        "value": old.id,
        "detail": "Sorry, you are not authorized to access 'organic_metrics.impression_count'"
        f" on the Tweet with ids : [{old.id}].",
        "type": NEW + "field-unauthorized",
    }


def test_the_default_spelling_knows_no_post_fields() -> None:
    with Sandbox(SandboxOptions(seed=7, posts=20, partner_posts=5)) as sb:
        post = sb.world.timeline(sb.world.main_user_id)[0]
        response = get(sb, "/2/tweets", ids=post.id, **{"post.fields": "created_at"})
        assert response.status_code == 400
        assert response.headers["Content-Type"] == JSON
        allowed = ",".join(sorted(("ids", *TWEET_PARAMS)))
        assert response.json() == invalid(
            {
                "parameters": {"post.fields": ["created_at"]},
                "message": f"The query parameter [post.fields] is not one of [{allowed}]",
            },
            kinds=OLD,
        )
        new_name = get(sb, f"/2/tweets/{post.id}", **{"tweet.fields": "edit_history_post_ids"})
        assert new_name.json() == invalid(
            not_one_of("tweet.fields", "edit_history_post_ids", TWEET_FIELDS), kinds=OLD
        )
        plain = get(sb, f"/2/tweets/{post.id}").json()
        assert plain["data"]["edit_history_tweet_ids"] == [post.id]


def test_options_and_flags() -> None:
    with pytest.raises(ValueError, match="spelling must be"):
        SandboxOptions(spelling="2.160").validate()
    with pytest.raises(ValueError, match="pagination_fault must be"):
        SandboxOptions(pagination_fault="loop").validate()
    args = build_parser().parse_args(
        [
            "--spelling",
            "2.167",
            "--odd-text",
            "--poison-metrics",
            "--pagination-fault",
            "overlap",
            "--missing-media-include",
        ]
    )
    assert (args.spelling, args.odd_text, args.poison_metrics) == ("2.167", True, True)
    assert (args.pagination_fault, args.missing_media_include) == ("overlap", True)
    defaults = build_parser().parse_args([])
    assert (defaults.spelling, defaults.pagination_fault) == ("2.159", None)
    assert (defaults.odd_text, defaults.poison_metrics, defaults.missing_media_include) == (
        False,
        False,
        False,
    )


# --- odd data ---------------------------------------------------------------------------------


def test_oddities_change_only_the_chosen_posts() -> None:
    plain = World(seed=7, posts=120, partner_posts=20, lookup_posts=0, now=NOW)
    odd = World(seed=7, posts=120, partner_posts=20, lookup_posts=0, now=NOW, oddities=ODDITIES)
    assert (plain.odd_text_post_ids, plain.odd_texts, plain.poisoned_posts) == ({}, {}, {})
    assert (plain.poisoned_users, plain.missing_media_key, plain.missing_media_post_id) == (
        {},
        None,
        None,
    )
    assert "oddities" not in plain.summary()
    assert list(odd.odd_text_post_ids) == list(ODD_TEXTS)
    assert odd.odd_texts == {odd.odd_text_post_ids[k]: text for k, text in ODD_TEXTS.items()}
    assert list(odd.poisoned_posts.values()) == list(POISONED_POST_VALUES)
    assert odd.poisoned_users == {odd.main_user_id: ("public_metrics.followers_count", "many")}
    assert odd.missing_media_post_id is not None
    chosen = [*odd.odd_texts, *odd.poisoned_posts, odd.missing_media_post_id]
    assert len(set(chosen)) == 10
    for post_id in chosen:
        post = odd.post(post_id)
        assert post is not None
        assert post.author_id == odd.main_user_id
        assert post.kind == "original"
        assert NOW.timestamp() * 1000 - post.created_ms < 27 * DAY_MS
    carrier = odd.post(odd.missing_media_post_id or "")
    assert carrier is not None
    assert odd.missing_media_key == carrier.media_keys[0]
    assert odd.media[carrier.media_keys[0]].type == "photo"
    for before, after in zip(plain.posts, odd.posts, strict=True):
        assert (before.id, before.public_metrics, before.media_keys) == (
            after.id,
            after.public_metrics,
            after.media_keys,
        )
        if after.id not in odd.odd_texts:
            assert (before.text, before.entities) == (after.text, after.entities)
    again = World(seed=7, posts=120, partner_posts=20, lookup_posts=0, now=NOW, oddities=ODDITIES)
    assert again.summary()["oddities"] == odd.summary()["oddities"]
    only_poison = Oddities(poison_metrics=True)
    poisoned = World(
        seed=7, posts=120, partner_posts=20, lookup_posts=0, now=NOW, oddities=only_poison
    )
    assert poisoned.poisoned_posts == odd.poisoned_posts
    assert poisoned.odd_texts == {}


def test_odd_text_goes_out_as_x_sends_it(odd: Sandbox) -> None:
    kinds = odd.world.odd_text_post_ids
    response = get(odd, "/2/tweets", ids=",".join(kinds.values()), **{"tweet.fields": "entities"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON
    raw = response.content
    raw.decode("utf-8")
    assert "\U0001f680".encode() in raw
    assert "\u05e9\u05dc\u05d5\u05dd".encode() in raw
    assert b'"Before a NUL\\u0000after it"' in raw
    assert b'"Line one\\nLine two\\n\\tindented by a tab\\r\\nlast line\\t"' in raw
    assert b'"Cut off mid-emoji \\ud83d"' in raw
    texts = {t["id"]: t["text"] for t in json.loads(raw)["data"]}
    assert texts == odd.world.odd_texts
    by_id = {t["id"]: t for t in response.json()["data"]}
    nul_post = kinds["entity_nul"]
    entities = by_id[nul_post]["entities"]
    assert entities == odd.world.odd_entities[nul_post]
    assert entities["hashtags"][0]["tag"] == "launch\x00day"
    assert entities["mentions"][0]["username"] == "sandbox\x00fan_one"
    assert all("entities" not in by_id[kinds[k]] for k in ODD_TEXTS if k != "entity_nul")


def test_poisoned_figures_are_served_and_the_posts_kept(odd: Sandbox) -> None:
    poisoned = odd.world.poisoned_posts
    path = f"/2/users/{odd.world.main_user_id}/tweets"
    pages = []
    token: str | None = None
    while True:
        extra = {"pagination_token": token} if token else {}
        page = get(odd, path, max_results=100, **{"tweet.fields": "public_metrics"}, **extra)
        pages.append(page)
        token = page.json()["meta"].get("next_token")
        if not token:
            break
    served = {t["id"]: t for page in pages for t in page.json()["data"]}
    assert set(poisoned) <= set(served)
    for post_id, (field_path, value) in poisoned.items():
        family, leaf = field_path.split(".")
        assert served[post_id][family][leaf] == value
        assert type(served[post_id][family][leaf]) is type(value)
    raw = b"".join(page.content for page in pages)
    assert b'"like_count":"12a"' in raw
    assert b'"reply_count":3.5' in raw
    assert b'"impression_count":18446744073709551621' in raw
    users = get(odd, "/2/users", ids=odd.world.main_user_id, **{"user.fields": "public_metrics"})
    assert users.json()["data"][0]["public_metrics"]["followers_count"] == "many"
    me = get(odd, "/2/users/me", auth=oauth1(), **{"user.fields": "public_metrics"})
    assert me.json()["data"]["public_metrics"]["followers_count"] == "many"


def test_one_media_key_has_no_include(odd: Sandbox) -> None:
    post_id, key = odd.world.missing_media_post_id, odd.world.missing_media_key
    assert post_id is not None
    assert key is not None
    body = get(
        odd,
        "/2/tweets",
        ids=post_id,
        expansions="attachments.media_keys",
        **{"media.fields": "url"},
    ).json()
    assert key in body["data"][0]["attachments"]["media_keys"]
    assert key not in [m["media_key"] for m in body.get("includes", {}).get("media", [])]
    others = [p for p in odd.world.timeline(odd.world.main_user_id) if p.media_keys][:5]
    listed = get(
        odd, "/2/tweets", ids=",".join(p.id for p in others), expansions="attachments.media_keys"
    ).json()
    included = {m["media_key"] for m in listed["includes"]["media"]}
    assert included == {k for p in others for k in p.media_keys} - {key}


# --- broken paging ----------------------------------------------------------------------------


def test_repeat_token_answers_a_page_with_its_own_token() -> None:
    options = SandboxOptions(seed=7, posts=60, partner_posts=5, pagination_fault="repeat-token")
    with Sandbox(options) as sb:
        timeline = sb.world.timeline(sb.world.main_user_id)
        path = f"/2/users/{sb.world.main_user_id}/tweets"
        first = get(sb, path, max_results=5).json()
        token = first["meta"]["next_token"]
        assert [t["id"] for t in first["data"]] == [p.id for p in timeline[:5]]
        for _ in range(3):
            page = get(sb, path, max_results=5, pagination_token=token)
            assert page.json()["meta"]["next_token"] == token
            assert [t["id"] for t in page.json()["data"]] == [p.id for p in timeline[5:10]]
        back = get(sb, path, max_results=5, pagination_token=page.json()["meta"]["previous_token"])
        assert [t["id"] for t in back.json()["data"]] == [p.id for p in timeline[:5]]


def test_overlap_repeats_the_last_post_of_the_page_before() -> None:
    options = SandboxOptions(seed=7, posts=60, partner_posts=5, pagination_fault="overlap")
    with Sandbox(options) as sb:
        timeline = [p.id for p in sb.world.timeline(sb.world.main_user_id)]
        path = f"/2/users/{sb.world.main_user_id}/tweets"
        pages: list[list[str]] = []
        token: str | None = None
        for _ in range(len(timeline)):
            extra = {"pagination_token": token} if token else {}
            body = get(sb, path, max_results=5, **extra).json()
            pages.append([t["id"] for t in body["data"]])
            token = body["meta"].get("next_token")
            if not token:
                break
        assert token is None
        assert pages[0] == timeline[:5]
        for before, page in itertools.pairwise(pages):
            assert page[0] == before[-1]
            assert len(page) <= 5
        assert list(dict.fromkeys(i for page in pages for i in page)) == timeline
        assert sum(len(page) for page in pages) == len(timeline) + len(pages) - 1
