"""The X API v2 read endpoints the sandbox serves: envelopes, fields, filters and problems."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tap_twitter_metrics_sandbox.analytics import (
    MEDIA_GRANULARITIES,
    MEDIA_METRICS,
    TWEET_GRANULARITIES,
    TWEET_METRICS,
)
from tap_twitter_metrics_sandbox.usage import USAGE_FIELDS, UsageMeter, usage_data
from tap_twitter_metrics_sandbox.world import DAY_MS, Post, User, World, api_time, snowflake

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tap_twitter_metrics_sandbox.analytics import Bucket
    from tap_twitter_metrics_sandbox.auth import Caller
    from tap_twitter_metrics_sandbox.world import Media, Timeline

PROBLEMS = "https://api.twitter.com/2/problems/"
# Spec 2.167 names the problems under api.x.com and gives one kind a new name.
X_PROBLEMS = "https://api.x.com/2/problems/"
RENAMED_KINDS = {"not-authorized-for-field": "field-unauthorized"}
SPELLINGS = ("2.159", "2.167")
PAGINATION_FAULTS = ("repeat-token", "overlap")
# The earliest start_time (and end_time) the API takes.
OLDEST_TIME = "2010-11-06T00:00:01Z"
OLDEST_TIME_MS = 1_289_001_601_000
ID_RE = re.compile(r"^[0-9]{1,19}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,3}))?Z$")
MEDIA_KEY_RE = re.compile(r"^([0-9]+)_([0-9]+)$")

TWEET_FIELDS = (
    "article",
    "attachments",
    "author_id",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "edit_history_tweet_ids",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "media_metadata",
    "non_public_metrics",
    "note_tweet",
    "organic_metrics",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "scopes",
    "source",
    "text",
    "withheld",
)
# What spec 2.167 declares for `post.fields`: no author_id or in_reply_to_user_id (still served
# on request through `tweet.fields` or the expansions), two fields renamed.
POST_FIELD_ALIASES = {
    "edit_history_post_ids": "edit_history_tweet_ids",
    "referenced_posts": "referenced_tweets",
}
POST_KEYS = {old: new for new, old in POST_FIELD_ALIASES.items()}
POST_FIELDS = tuple(
    sorted(
        {POST_KEYS.get(name, name) for name in TWEET_FIELDS} - {"author_id", "in_reply_to_user_id"}
    )
)
PLACE_FIELDS = (
    "contained_within",
    "country",
    "country_code",
    "full_name",
    "geo",
    "id",
    "name",
    "place_type",
)
POLL_FIELDS = ("duration_minutes", "end_datetime", "id", "options", "voting_status")
MEDIA_FIELDS = (
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "non_public_metrics",
    "organic_metrics",
    "preview_image_url",
    "promoted_metrics",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
)
USER_FIELDS = (
    "affiliation",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "location",
    "most_recent_tweet_id",
    "name",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_type",
    "withheld",
)
TWEET_EXPANSIONS = (
    "article.cover_media",
    "article.media_entities",
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "entities.note.mentions.username",
    "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys",
    "referenced_tweets.id.author_id",
)
USER_EXPANSIONS = ("affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id")
OTHER_FIELD_PARAMS = ("place.fields", "poll.fields")
TWEET_PARAMS = ("tweet.fields", "media.fields", "user.fields", "expansions", *OTHER_FIELD_PARAMS)
USER_PARAMS = ("user.fields", "tweet.fields", "expansions")
TIMELINE_PARAMS = (
    "end_time",
    "exclude",
    "expansions",
    "id",
    "max_results",
    "media.fields",
    "pagination_token",
    "place.fields",
    "poll.fields",
    "since_id",
    "start_time",
    "tweet.fields",
    "until_id",
    "user.fields",
)

_TWEET_PRIVATE_LEAVES = (
    "impression_count",
    "like_count",
    "reply_count",
    "retweet_count",
    "url_link_clicks",
    "user_profile_clicks",
)
TWEET_PRIVATE: dict[str, tuple[str, ...]] = {
    "non_public_metrics": (
        "impression_count",
        "url_link_clicks",
        "user_profile_clicks",
        "engagements",
    ),
    "organic_metrics": _TWEET_PRIVATE_LEAVES,
    "promoted_metrics": _TWEET_PRIVATE_LEAVES,
}
_PLAYBACKS = tuple(f"playback_{q}_count" for q in (0, 25, 50, 75, 100))
MEDIA_PRIVATE: dict[str, tuple[str, ...]] = {
    "non_public_metrics": _PLAYBACKS,
    "organic_metrics": (*_PLAYBACKS, "view_count"),
    "promoted_metrics": (*_PLAYBACKS, "view_count"),
}
TIMELINE_CAP = 3200
TIMELINE_CAP_NO_REPLIES = 800

CLIENT_FORBIDDEN = {
    "client_id": "30000001",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys"
    " and tokens from a Twitter developer App that is attached to a Project. You can create a"
    " project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
APP_ONLY_FORBIDDEN = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint."
    "  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": PROBLEMS + "unsupported-authentication",
    "status": 403,
}

USAGE_PARAMS = ("days", "usage.fields")

ANALYTICS_PARAMS = ("end_time", "granularity", "start_time")


@dataclass(frozen=True)
class AnalyticsEndpoint:
    """What tells the two analytics endpoints apart."""

    resource_type: str
    key_param: str
    key_pattern: re.Pattern[str]
    fields_param: str
    metrics: tuple[str, ...]
    granularities: tuple[str, ...]
    default_granularity: str
    item_key: str

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every accepted value of the fields parameter.

        Besides the metrics, the names of the response's parts: accepted, always present.
        """
        return tuple(sorted((*self.metrics, self.item_key, "timestamp", "timestamped_metrics")))


TWEET_ANALYTICS = AnalyticsEndpoint(
    "tweet", "ids", ID_RE, "analytics.fields", TWEET_METRICS, TWEET_GRANULARITIES, "total", "id"
)
# The facts show only post items, keyed "id"; media items are keyed "media_key" here, as media
# objects are everywhere else in the API. A tap should accept "id" as well.
MEDIA_ANALYTICS = AnalyticsEndpoint(
    "media",
    "media_keys",
    MEDIA_KEY_RE,
    "media_analytics.fields",
    MEDIA_METRICS,
    MEDIA_GRANULARITIES,
    "daily",
    "media_key",
)


@dataclass(frozen=True)
class AnalyticsQuery:
    """A validated analytics request; `metrics` in the endpoint's order, empty if none asked."""

    keys: list[str]
    metrics: tuple[str, ...]
    granularity: str
    start_ms: int
    end_ms: int


@dataclass
class Result:
    """A handler's answer: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


class InvalidRequestError(Exception):
    """Collected 400 problems for one request."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("invalid request")
        self.problems = problems


def invalid_request_body(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the API's 400 problem body."""
    return {
        "errors": problems,
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


def _respell_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """One problem in the 2.167 spelling: its `type` under api.x.com, a renamed kind renamed."""
    url = problem.get("type")
    if not isinstance(url, str) or not url.startswith(PROBLEMS):
        return problem
    kind = url[len(PROBLEMS) :]
    return {**problem, "type": X_PROBLEMS + RENAMED_KINDS.get(kind, kind)}


def respell_problems(body: Any) -> Any:
    """A response body in the 2.167 spelling: the body and each of its `errors` respelled."""
    if not isinstance(body, dict):
        return body
    out = _respell_problem(body)
    errors = out.get("errors")
    if isinstance(errors, list):
        out = {**out, "errors": [_respell_problem(e) if isinstance(e, dict) else e for e in errors]}
    return out


def app_only_required(caller: Caller) -> dict[str, Any]:
    """The 403 a user-context token gets from an endpoint that takes only the app's token."""
    kind = "OAuth 1.0a User Context" if caller.auth == "oauth1" else "OAuth 2.0 User Context"
    return {
        "title": "Unsupported Authentication",
        "detail": f"Authenticating with {kind} is forbidden for this endpoint.  Supported"
        " authentication types are [OAuth 2.0 Application-Only].",
        "type": PROBLEMS + "unsupported-authentication",
        "status": 403,
    }


def _problem(name: str, values: list[str], message: str) -> dict[str, Any]:
    return {"parameters": {name: values}, "message": message}


def not_found(resource_type: str, parameter: str, value: str) -> dict[str, Any]:
    """Return a partial Not Found Error."""
    return {
        "value": value,
        "detail": f"Could not find {resource_type} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def not_authorized(resource_type: str, parameter: str, value: str) -> dict[str, Any]:
    """Return a partial Authorization Error (protected or suspended author)."""
    noun = {"tweet": "Tweet", "media": "media"}.get(resource_type, "user")
    return {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the {noun} with {parameter}: [{value}].",
        "title": "Authorization Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "not-authorized-for-resource",
    }


def field_error(resource_type: str, parameter: str, value: str, field: str) -> dict[str, Any]:
    """Return one Field Authorization Error (shape recorded from the live API)."""
    noun = "Tweet" if resource_type == "tweet" else "Media"
    return {
        "resource_type": resource_type,
        "field": field,
        "parameter": parameter,
        "resource_id": value,
        "title": "Field Authorization Error",
        "section": "data",
        "value": value,
        "detail": f"Sorry, you are not authorized to access '{field}' on the {noun} with"
        f" {parameter} : [{value}].",
        "type": PROBLEMS + "not-authorized-for-field",
    }


@dataclass
class Fields:
    """The field lists and expansions of a request, in the order given."""

    tweet: list[str]
    media: list[str]
    user: list[str]
    expansions: list[str]

    @property
    def media_expanded(self) -> bool:
        """Whether `includes.media` is wanted."""
        return "attachments.media_keys" in self.expansions

    def private_tweet(self) -> list[str]:
        """Private tweet families asked for."""
        return [f for f in self.tweet if f in TWEET_PRIVATE]

    def private_media(self) -> list[str]:
        """Private media families asked for (only meaningful with the media expansion)."""
        if not self.media_expanded:
            return []
        return [f for f in self.media if f in MEDIA_PRIVATE]


def _split_list(
    params: dict[str, str], name: str, allowed: Iterable[str], problems: list[dict[str, Any]]
) -> list[str]:
    if name not in params:
        return []
    raw = params[name]
    values = raw.split(",")
    allowed_set = set(allowed)
    out: list[str] = []
    for value in values:
        if value not in allowed_set:
            problems.append(_not_one_of(name, value, allowed))
        elif value not in out:
            out.append(value)
    return out


def _not_one_of(name: str, value: str, allowed: Iterable[str]) -> dict[str, Any]:
    return _problem(
        name,
        [value],
        f"The `{name}` query parameter value [{value}] is not one of [{','.join(allowed)}]",
    )


def _empty(name: str, raw: str) -> dict[str, Any]:
    return _problem(name, [raw], f"The `{name}` query parameter can not be empty")


def _split_unique(
    params: dict[str, str], name: str, allowed: Iterable[str], problems: list[dict[str, Any]]
) -> list[str]:
    """Parse a list parameter whose values must be known and unique (as every one's are)."""
    values = _split_list(params, name, allowed, problems)
    if name in params:
        _check_unique(name, params[name].split(","), problems)
    return values


def parse_fields(
    params: dict[str, str],
    problems: list[dict[str, Any]],
    *,
    expansions: Iterable[str] = TWEET_EXPANSIONS,
) -> Fields:
    """Validate and parse field-list parameters; append problems for bad values."""
    return Fields(
        tweet=_split_unique(params, "tweet.fields", TWEET_FIELDS, problems),
        media=_split_unique(params, "media.fields", MEDIA_FIELDS, problems),
        user=_split_unique(params, "user.fields", USER_FIELDS, problems),
        expansions=_split_unique(params, "expansions", tuple(expansions), problems),
    )


def parse_post_fields(
    params: dict[str, str], problems: list[dict[str, Any]], *, spelling: str
) -> Fields:
    """Parse the field parameters of a post route; in the 2.167 spelling `post.fields` too.

    `post.fields` takes the 2.167 names, `tweet.fields` keeps the old ones; not both at once.
    """
    fields = parse_fields(params, problems)
    for name, allowed in (("place.fields", PLACE_FIELDS), ("poll.fields", POLL_FIELDS)):
        _split_unique(params, name, allowed, problems)
    if spelling == "2.167" and "post.fields" in params:
        if "tweet.fields" in params:
            problems.append(_exclusive("post.fields", "tweet.fields", params))
        asked = _split_unique(params, "post.fields", POST_FIELDS, problems)
        fields.tweet = [POST_FIELD_ALIASES.get(name, name) for name in asked]
    return fields


def post_params(names: tuple[str, ...], spelling: str) -> tuple[str, ...]:
    """The query parameters of a post route: `names`, and `post.fields` in the 2.167 spelling."""
    return (*names, "post.fields") if spelling == "2.167" else names


def _exclusive(one: str, other: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "parameters": {one: [params[one]], other: [params[other]]},
        "message": f"The `{one}` and `{other}` query parameters can not be used together",
    }


def check_known_params(
    params: dict[str, str], allowed: Iterable[str], problems: list[dict[str, Any]]
) -> None:
    """Append a problem for every query parameter the endpoint does not know."""
    allowed_list = sorted(allowed)
    for name, value in params.items():
        if name not in allowed_list:
            problems.append(
                _problem(
                    name,
                    [value],
                    f"The query parameter [{name}] is not one of [{','.join(allowed_list)}]",
                )
            )


def _check_match(
    name: str, value: str, pattern: re.Pattern[str], problems: list[dict[str, Any]]
) -> bool:
    if pattern.match(value):
        return True
    problems.append(
        _problem(
            name,
            [value],
            f"The `{name}` query parameter value [{value}] does not match {pattern.pattern}",
        )
    )
    return False


def _check_id(name: str, value: str, problems: list[dict[str, Any]]) -> bool:
    return _check_match(name, value, ID_RE, problems)


def _check_list_size(name: str, raw: str, problems: list[dict[str, Any]]) -> None:
    """Append a problem unless the comma-separated list `raw` holds 1 to 100 values."""
    count = len(raw.split(","))
    if not raw:
        problems.append(_empty(name, raw))
    elif count > 100:
        problems.append(
            _problem(
                name,
                [raw],
                f"The number of values in the `{name}` query parameter list [{count}]"
                " is not between 1 and 100",
            )
        )


def _parse_time(name: str, value: str, problems: list[dict[str, Any]]) -> int | None:
    match = TIME_RE.match(value)
    if match:
        try:
            base = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(
                tzinfo=timezone.utc
            )
        except ValueError:
            base = None
        if base is not None:
            frac = (match.group(2) or "0").ljust(3, "0")
            ms = int(base.timestamp()) * 1000 + int(frac)
            if ms >= OLDEST_TIME_MS:
                return ms
            problems.append(
                _problem(
                    name,
                    [value],
                    f"Invalid '{name}':'{value}'. '{name}' must be on or after {OLDEST_TIME}",
                )
            )
            return None
    problems.append(
        _problem(
            name,
            [value],
            f"The `{name}` query parameter value [{value}] is not a valid RFC3339 date-time"
            " (YYYY-MM-DDTHH:mm:ssZ)",
        )
    )
    return None


def _check_unique(name: str, values: list[str], problems: list[dict[str, Any]]) -> None:
    """Append a problem for every value a list parameter repeats."""
    for value in (v for v, count in Counter(values).items() if count > 1):
        problems.append(
            _problem(
                name,
                [value],
                f"The `{name}` query parameter value [{value}] is repeated: values must be unique",
            )
        )


def _required_time(name: str, params: dict[str, str], problems: list[dict[str, Any]]) -> int | None:
    """Parse a required time parameter; a missing or empty one is a problem."""
    if not params.get(name):
        problems.append(_empty(name, params.get(name, "")))
        return None
    return _parse_time(name, params[name], problems)


def _check_not_future(
    start_ms: int | None, now_ms: int, params: dict[str, str], problems: list[dict[str, Any]]
) -> None:
    """Append a problem when the start_time (parsed as `start_ms`) is after `now_ms`."""
    if start_ms is not None and start_ms > now_ms:
        value = params["start_time"]
        problems.append(
            _problem(
                "start_time",
                [value],
                f"Invalid 'start_time':'{value}'. 'start_time' must not be in the future",
            )
        )


def _analytics_window(
    params: dict[str, str], now_ms: int, problems: list[dict[str, Any]]
) -> tuple[int, int]:
    """The [start_time, end_time) of an analytics request: start not in the future, end after."""
    start_ms = _required_time("start_time", params, problems)
    end_ms = _required_time("end_time", params, problems)
    _check_not_future(start_ms, now_ms, params, problems)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        problems.append(_order_problem(params))
    return start_ms or 0, end_ms or 0


def parse_analytics_query(
    endpoint: AnalyticsEndpoint, params: dict[str, str], now_ms: int
) -> AnalyticsQuery:
    """Validate an analytics request; raise InvalidRequestError with every problem."""
    problems: list[dict[str, Any]] = []
    name = endpoint.key_param
    check_known_params(params, (name, endpoint.fields_param, *ANALYTICS_PARAMS), problems)
    raw = params.get(name, "")
    _check_list_size(name, raw, problems)
    keys = raw.split(",") if raw else []
    for key in keys:
        _check_match(name, key, endpoint.key_pattern, problems)
    _check_unique(name, keys, problems)
    asked = _split_unique(params, endpoint.fields_param, endpoint.field_names, problems)
    granularity = params.get("granularity", endpoint.default_granularity)
    if granularity not in endpoint.granularities:
        problems.append(_not_one_of("granularity", granularity, endpoint.granularities))
    start_ms, end_ms = _analytics_window(params, now_ms, problems)
    if problems:
        raise InvalidRequestError(problems)
    metrics = tuple(m for m in endpoint.metrics if m in asked)
    return AnalyticsQuery(keys, metrics, granularity, start_ms, end_ms)


def _encode_token(direction: str, user_id: str, cursor: int) -> str:
    raw = f"{direction}:{user_id}:{cursor}".encode()
    return base64.b32encode(raw).decode().rstrip("=").lower()


def _decode_token(token: str) -> tuple[str, str, int] | None:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        direction, user_id, cursor = base64.b32decode(padded).decode().split(":")
        return direction, user_id, int(cursor)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class Api:
    """Request handlers over a World. Callers hold the world lock.

    `spelling` "2.167" serves the names of X's OpenAPI specification 2.167 (repost_count,
    post_count, edit_history_post_ids, referenced_posts; `post.fields` taken), whatever
    `retweet_key` says. `pagination_fault` breaks the timeline's paging: "repeat-token" or
    "overlap" (see SandboxOptions). `meter` counts what is served and billed; GET
    /2/usage/tweets reports it in `usage_shape`, "object" or "list" (see SandboxOptions).
    """

    def __init__(
        self,
        world: World,
        *,
        promoted_variant: str,
        retweet_key: str,
        not_found_variant: str,
        analytics_forbidden: bool = False,
        spelling: str = "2.159",
        pagination_fault: str | None = None,
        meter: UsageMeter | None = None,
        usage_shape: str = "object",
    ) -> None:
        self.world = world
        self.meter = meter or UsageMeter()
        self.usage_shape = usage_shape
        self.promoted_variant = promoted_variant
        self.retweet_key = "repost_count" if spelling == "2.167" else retweet_key
        self.not_found_variant = not_found_variant
        self.analytics_forbidden = analytics_forbidden
        self.spelling = spelling
        self.pagination_fault = pagination_fault
        self._post_keys = POST_KEYS if spelling == "2.167" else {}
        self._user_keys = {"tweet_count": "post_count"} if spelling == "2.167" else {}

    # --- rendering ------------------------------------------------------------------------

    def _rename_leaf(self, name: str) -> str:
        return self.retweet_key if name == "retweet_count" else name

    def _rename(self, metrics: dict[str, int]) -> dict[str, int]:
        if self.retweet_key == "retweet_count" or "retweet_count" not in metrics:
            return dict(metrics)
        return {self._rename_leaf(k): v for k, v in metrics.items()}

    def render_post(self, post: Post, fields: Fields, *, private_ok: bool) -> dict[str, Any]:
        """Project a post on the requested fields (defaults always present)."""
        out: dict[str, Any] = {
            "id": post.id,
            "text": post.text,
            "edit_history_tweet_ids": [post.id],
        }
        wanted = set(fields.tweet)
        if "attachments.media_keys" in fields.expansions:
            wanted.add("attachments")
        if "author_id" in fields.expansions:
            wanted.add("author_id")
        if "in_reply_to_user_id" in fields.expansions:
            wanted.add("in_reply_to_user_id")
        if "referenced_tweets.id" in fields.expansions:
            wanted.add("referenced_tweets")
        for name in TWEET_FIELDS:
            if name not in wanted:
                continue
            value = self._post_field(post, name, private_ok=private_ok)
            if value is not None:
                out[name] = value
        poison = self.world.poisoned_posts.get(post.id)
        if poison is not None:
            _poison(out, *poison)
        if self._post_keys:
            return {self._post_keys.get(k, k): v for k, v in out.items()}
        return out

    def _post_field(  # noqa: PLR0911 -- one exit per field
        self, post: Post, name: str, *, private_ok: bool
    ) -> Any:
        simple: dict[str, Any] = {
            "author_id": post.author_id,
            "created_at": post.created_at_api,
            "conversation_id": post.conversation_id,
            "lang": post.lang,
            "possibly_sensitive": post.possibly_sensitive,
            "reply_settings": post.reply_settings,
            "in_reply_to_user_id": post.in_reply_to_user_id,
        }
        if name in simple:
            return simple[name]
        if name == "referenced_tweets":
            return [dict(r) for r in post.referenced_tweets] if post.referenced_tweets else None
        if name == "attachments":
            return {"media_keys": list(post.media_keys)} if post.media_keys else None
        if name == "entities":
            return post.entities
        if name == "edit_controls":
            return {
                "edits_remaining": 5,
                "is_edit_eligible": not post.is_retweet,
                "editable_until": api_time(post.created_ms + 3_600_000),
            }
        if name == "public_metrics":
            return self._rename(post.public_metrics)
        if not private_ok:
            return None
        if name == "non_public_metrics":
            return dict(post.non_public_metrics)
        if name == "organic_metrics":
            return self._rename(post.organic_metrics)
        if name == "promoted_metrics":
            return self._rename(post.promoted_metrics) if post.promoted_metrics else None
        return None

    def render_media(self, media: Media, fields: Fields) -> dict[str, Any]:
        """Project a media object; photos and GIFs never carry metrics."""
        out: dict[str, Any] = {"media_key": media.media_key, "type": media.type}
        for name in fields.media:
            value: Any = None
            if name in ("url", "preview_image_url", "duration_ms", "width", "height", "alt_text"):
                value = getattr(media, name)
            elif name == "variants":
                value = [dict(v) for v in media.variants] if media.variants else None
            elif name in ("public_metrics", *MEDIA_PRIVATE) and media.has_metrics:
                fam = getattr(media, name)
                value = dict(fam) if fam else None
            if value is not None:
                out[name] = value
        return out

    def render_user(self, user: User, fields: Fields) -> dict[str, Any]:
        """Project a user on the requested fields (id, name, username always)."""
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        values: dict[str, Any] = {
            "created_at": user.created_at_api,
            "description": user.description,
            "location": user.location,
            "url": user.url,
            "protected": user.protected,
            "verified": user.verified,
            "verified_type": "business" if user.verified else "none",
            "profile_image_url": user.profile_image_url,
            "public_metrics": {
                self._user_keys.get(k, k): v for k, v in user.public_metrics.items()
            },
        }
        for name in fields.user:
            value = values.get(name)
            if value is not None:
                out[name] = value
        poison = self.world.poisoned_users.get(user.id)
        if poison is not None:
            _poison(out, *poison)
        return out

    # --- shared post pipeline -------------------------------------------------------------

    def may_see_private(self, caller: Caller, post: Post, now_ms: int) -> bool:
        """User context, own post, created within the last 30 days by the real clock."""
        return (
            caller.user_id is not None
            and post.author_id == caller.user_id
            and post.created_ms >= now_ms - 30 * DAY_MS
        )

    def _has_video(self, post: Post) -> bool:
        return any(self.world.media[k].has_metrics for k in post.media_keys)

    def assemble(
        self, posts: list[Post], caller: Caller, fields: Fields, parameter: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], bool]:
        """Build data, includes and field errors for posts; the flag means "answer blank"."""
        now_ms = int(time.time() * 1000)
        private_tweet = fields.private_tweet()
        private_media = fields.private_media()
        errors: list[dict[str, Any]] = []
        kept: list[tuple[Post, bool]] = []
        for post in posts:
            ok = self.may_see_private(caller, post, now_ms)
            needs = bool(private_tweet) or (bool(private_media) and self._has_video(post))
            if needs and not ok:
                errors += self._field_errors(post, private_tweet, private_media, parameter)
                continue
            kept.append((post, ok))
        if self.promoted_variant == "blank" and self._blank(kept, fields):
            return [], {}, [], True
        data = [self.render_post(p, fields, private_ok=ok) for p, ok in kept]
        return data, self._includes([p for p, _ok in kept], fields), errors, False

    def _field_errors(
        self, post: Post, private_tweet: list[str], private_media: list[str], parameter: str
    ) -> list[dict[str, Any]]:
        """The errors that replace a post the caller may not see private fields of."""
        errors = [
            field_error("tweet", parameter, post.id, f"{fam}.{self._rename_leaf(leaf)}")
            for fam in private_tweet
            for leaf in TWEET_PRIVATE[fam]
        ]
        for key in post.media_keys:
            if self.world.media[key].has_metrics:
                errors += [
                    field_error("media", "media_keys", key, f"{fam}.{leaf}")
                    for fam in private_media
                    for leaf in MEDIA_PRIVATE[fam]
                ]
        return errors

    def _includes(self, posts: list[Post], fields: Fields) -> dict[str, Any]:
        """The expanded media, users and referenced posts of the posts returned."""
        includes: dict[str, Any] = {}
        media = self._included_media(posts, fields) if fields.media_expanded else []
        if media:
            includes["media"] = media
        users = self._included_users(posts, fields)
        if users:
            includes["users"] = users
        if "referenced_tweets.id" in fields.expansions:
            tweets = self._included_tweets(posts, fields)
            if tweets:
                includes["tweets"] = tweets
        return includes

    def _included_media(self, posts: list[Post], fields: Fields) -> list[dict[str, Any]]:
        """Each media object of the posts once; never the one `missing_media_key` names."""
        missing = self.world.missing_media_key
        seen: dict[str, dict[str, Any]] = {}
        for post in posts:
            for key in post.media_keys:
                if key not in seen and key != missing:
                    seen[key] = self.render_media(self.world.media[key], fields)
        return list(seen.values())

    def _included_users(self, posts: list[Post], fields: Fields) -> list[dict[str, Any]]:
        user_ids: list[str] = []
        for post in posts:
            if "author_id" in fields.expansions and post.author_id not in user_ids:
                user_ids.append(post.author_id)
            reply_to = post.in_reply_to_user_id
            if "in_reply_to_user_id" in fields.expansions and reply_to and reply_to not in user_ids:
                user_ids.append(reply_to)
        users = [self.world.users[u] for u in user_ids if u in self.world.users]
        return [self.render_user(u, fields) for u in users]

    def _included_tweets(self, posts: list[Post], fields: Fields) -> list[dict[str, Any]]:
        refs: dict[str, dict[str, Any]] = {}
        for post in posts:
            for ref in post.referenced_tweets or []:
                target = self.world.post(ref["id"])
                if target is not None and target.id not in refs:
                    refs[target.id] = self.render_post(target, fields, private_ok=False)
        return list(refs.values())

    def _blank(self, kept: list[tuple[Post, bool]], fields: Fields) -> bool:
        if "promoted_metrics" in fields.tweet and any(not p.promoted for p, _ in kept):
            return True
        if "promoted_metrics" in fields.media and fields.media_expanded:
            for post, _ok in kept:
                for key in post.media_keys:
                    media = self.world.media[key]
                    if media.has_metrics and media.promoted_metrics is None:
                        return True
        return False

    # --- endpoints ------------------------------------------------------------------------

    def _visible(self, post: Post, caller: Caller) -> bool:
        author = self.world.users.get(post.author_id)
        return author is None or not author.protected or caller.user_id == author.id

    def tweets_lookup(self, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/tweets?ids=."""
        problems: list[dict[str, Any]] = []
        check_known_params(params, post_params(("ids", *TWEET_PARAMS), self.spelling), problems)
        fields = parse_post_fields(params, problems, spelling=self.spelling)
        raw = params.get("ids", "")
        _check_list_size("ids", raw, problems)
        ids = [v for v in (raw.split(",") if raw else []) if _check_id("ids", v, problems)]
        _check_unique("ids", ids, problems)
        if problems:
            raise InvalidRequestError(problems)
        resource_errors: list[dict[str, Any]] = []
        found: list[Post] = []
        for pid in ids:
            post = self.world.post(pid)
            if post is None:
                resource_errors.append(not_found("tweet", "ids", pid))
            elif not self._visible(post, caller):
                resource_errors.append(not_authorized("tweet", "ids", pid))
            else:
                found.append(post)
        data, includes, errors, blank = self.assemble(found, caller, fields, "ids")
        if blank:
            return Result(200, {})
        return Result(200, _envelope(data, includes, resource_errors + errors))

    def tweet_single(self, post_id: str, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/tweets/:id."""
        problems: list[dict[str, Any]] = []
        check_known_params(params, post_params(TWEET_PARAMS, self.spelling), problems)
        fields = parse_post_fields(params, problems, spelling=self.spelling)
        _check_id("id", post_id, problems)
        if problems:
            raise InvalidRequestError(problems)
        post = self.world.post(post_id)
        if post is None:
            if self.not_found_variant == "404":
                return Result(
                    404,
                    {
                        "title": "Not Found Error",
                        "type": PROBLEMS + "resource-not-found",
                        "status": 404,
                        "detail": f"Could not find tweet with id: [{post_id}].",
                    },
                )
            return Result(200, {"errors": [not_found("tweet", "id", post_id)]})
        if not self._visible(post, caller):
            return Result(200, {"errors": [not_authorized("tweet", "id", post_id)]})
        data, includes, errors, blank = self.assemble([post], caller, fields, "id")
        if blank:
            return Result(200, {})
        return Result(200, _envelope(_first(data), includes, errors))

    def users_me(self, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/users/me."""
        if caller.user_id is None:
            return Result(403, dict(APP_ONLY_FORBIDDEN))
        problems: list[dict[str, Any]] = []
        check_known_params(params, USER_PARAMS, problems)
        fields = parse_fields(params, problems, expansions=USER_EXPANSIONS)
        if problems:
            raise InvalidRequestError(problems)
        return Result(200, {"data": self.render_user(self.world.users[caller.user_id], fields)})

    def usage_tweets(self, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/usage/tweets: the posts billed per UTC day; the app's bearer token only."""
        if caller.user_id is not None:
            return Result(403, app_only_required(caller))
        problems: list[dict[str, Any]] = []
        check_known_params(params, USAGE_PARAMS, problems)
        asked = _split_unique(params, "usage.fields", USAGE_FIELDS, problems)
        days = _int_between(params, "days", 7, (1, 90), problems)
        if problems:
            raise InvalidRequestError(problems)
        data = usage_data(
            self.meter.posts_per_day(),
            asked=asked,
            days=days,
            now_ms=self.world.now_ms(),
            shape=self.usage_shape,
            poison=self.world.oddities.poison_metrics,
        )
        return Result(200, {"data": data})

    def tweet_analytics(self, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/tweets/analytics."""
        return self._analytics(TWEET_ANALYTICS, params, caller)

    def media_analytics(self, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/media/analytics."""
        return self._analytics(MEDIA_ANALYTICS, params, caller)

    def _analytics(
        self, endpoint: AnalyticsEndpoint, params: dict[str, str], caller: Caller
    ) -> Result:
        """Enrolment first, then user context, then the parameters; own resources only."""
        if self.analytics_forbidden:
            return Result(403, dict(CLIENT_FORBIDDEN))
        if caller.user_id is None:
            return Result(403, dict(APP_ONLY_FORBIDDEN))
        # Never before the last advance: its growth must be in the figures it changed.
        now_ms = self.world.now_ms()
        query = parse_analytics_query(endpoint, params, now_ms)
        series: Callable[..., list[Bucket]] = (
            self.world.tweet_analytics
            if endpoint.resource_type == "tweet"
            else self.world.media_analytics
        )
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for key in query.keys:
            refusal = self._analytics_refusal(endpoint, key, caller.user_id)
            if refusal is not None:
                errors.append(refusal)
                continue
            buckets = series(
                key, query.granularity, query.start_ms, query.end_ms, now_ms, fields=query.metrics
            )
            metrics = [{"timestamp": at, "metrics": figures} for at, figures in buckets]
            data.append({endpoint.item_key: key, "timestamped_metrics": metrics})
        return Result(200, _envelope(data, {}, errors))

    def _analytics_refusal(
        self, endpoint: AnalyticsEndpoint, key: str, user_id: str
    ) -> dict[str, Any] | None:
        """The partial error standing for a resource without analytics for the user, if any."""
        kind, parameter = endpoint.resource_type, endpoint.key_param
        if kind == "tweet":
            post = self.world.post(key)
            owner, measured = (post.author_id if post else None), True
        else:
            found = self.world.media_owner(key)
            owner = found[0] if found else None
            measured = found is not None and self.world.media[key].has_metrics
        if owner is None:
            return not_found(kind, parameter, key)
        if owner != user_id:
            return not_authorized(kind, parameter, key)
        # Photos and GIFs have no analytics: the backend finds nothing, as for unknown keys.
        return None if measured else not_found(kind, parameter, key)

    def _users(
        self, keys: list[str], parameter: str, params: dict[str, str], *, single: bool
    ) -> Result:
        problems: list[dict[str, Any]] = []
        allowed = USER_PARAMS if single else (parameter, *USER_PARAMS)
        check_known_params(params, allowed, problems)
        fields = parse_fields(params, problems, expansions=USER_EXPANSIONS)
        if not single:
            _check_list_size(parameter, ",".join(keys), problems)
        pattern = ID_RE if parameter.startswith("id") else USERNAME_RE
        for key in keys:
            _check_match(parameter, key, pattern, problems)
        if not single:
            _check_unique(parameter, keys, problems)
        if problems:
            raise InvalidRequestError(problems)
        data, errors = self._find_users(keys, parameter, fields)
        return Result(200, _envelope(_first(data) if single else data, {}, errors))

    def _find_users(
        self, keys: list[str], parameter: str, fields: Fields
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Render the users `keys` name (each once, case-insensitively); errors for unknown ones."""
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for key in keys:
            if key.lower() in seen:
                continue
            seen.add(key.lower())
            user = (
                self.world.users.get(key)
                if parameter.startswith("id")
                else self.world.user_by_username(key)
            )
            if user is None:
                errors.append(not_found("user", parameter, key))
            else:
                data.append(self.render_user(user, fields))
        return data, errors

    def user_by_username(self, username: str, params: dict[str, str]) -> Result:
        """GET /2/users/by/username/:username."""
        return self._users([username], "username", params, single=True)

    def users_by_usernames(self, params: dict[str, str]) -> Result:
        """GET /2/users/by?usernames=."""
        return self._users(
            params.get("usernames", "").split(","), "usernames", params, single=False
        )

    def users_lookup(self, params: dict[str, str]) -> Result:
        """GET /2/users?ids=."""
        return self._users(params.get("ids", "").split(","), "ids", params, single=False)

    def user_single(self, user_id: str, params: dict[str, str]) -> Result:
        """GET /2/users/:id."""
        return self._users([user_id], "id", params, single=True)

    def timeline(self, user_id: str, params: dict[str, str], caller: Caller) -> Result:
        """GET /2/users/:id/tweets."""
        query = parse_timeline_query(
            user_id, params, now_ms=self.world.now_ms(), spelling=self.spelling
        )
        query.overlap = self.pagination_fault == "overlap"
        user = self.world.users.get(user_id)
        if user is None:
            return Result(200, {"errors": [not_found("user", "id", user_id)]})
        if user.protected and caller.user_id != user.id:
            return Result(200, {"errors": [not_authorized("user", "id", user_id)]})
        now_ms = int(time.time() * 1000)
        private = bool(query.fields.private_tweet() or query.fields.private_media())
        page, more = _scan(self.world.timelines[user_id], query, now_ms, private=private)
        data, includes, errors, blank = self.assemble(page, caller, query.fields, "ids")
        if blank:
            return Result(200, {})
        meta = _timeline_meta(user_id, query, data, page, more=more)
        if self.pagination_fault == "repeat-token" and query.paged and query.direction == "n":
            meta["next_token"] = params["pagination_token"]
        body = _envelope(data, includes, errors)
        body["meta"] = meta
        return Result(200, body)


def _timeline_meta(
    user_id: str, query: TimelineQuery, data: list[dict[str, Any]], page: list[Post], *, more: bool
) -> dict[str, Any]:
    """The `meta` of a timeline page: ids, count and the tokens of the pages around it."""
    meta: dict[str, Any] = {}
    if data:
        meta["newest_id"] = data[0]["id"]
        meta["oldest_id"] = data[-1]["id"]
    meta["result_count"] = len(data)
    if page:
        forward = query.direction == "n"
        if more or not forward:
            meta["next_token"] = _encode_token("n", user_id, page[-1].id_int)
        if query.paged and (more or forward):
            meta["previous_token"] = _encode_token("p", user_id, page[0].id_int)
    return meta


@dataclass
class TimelineQuery:
    """A validated timeline request."""

    fields: Fields
    max_results: int = 10
    exclude: tuple[str, ...] = ()
    since_id: int | None = None
    until_id: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    direction: str = "n"
    cursor: int | None = None
    overlap: bool = False

    @property
    def paged(self) -> bool:
        """Whether the request carried a pagination token."""
        return self.cursor is not None


def parse_timeline_query(
    user_id: str, params: dict[str, str], *, now_ms: int, spelling: str = "2.159"
) -> TimelineQuery:
    """Validate the timeline parameters; raise InvalidRequestError with every problem.

    A start_time after `now_ms` is one.
    """
    problems: list[dict[str, Any]] = []
    check_known_params(params, post_params(TIMELINE_PARAMS, spelling), problems)
    query = TimelineQuery(fields=parse_post_fields(params, problems, spelling=spelling))
    _check_id("id", user_id, problems)
    query.max_results = _parse_max_results(params, problems)
    query.exclude = tuple(_split_unique(params, "exclude", ("replies", "retweets"), problems))
    _parse_window(query, params, problems)
    _check_not_future(query.start_ms, now_ms, params, problems)
    if "pagination_token" in params:
        cursor = _parse_cursor(user_id, params["pagination_token"], problems)
        if cursor is not None:
            query.direction, query.cursor = cursor
    if problems:
        raise InvalidRequestError(problems)
    return query


def _parse_max_results(params: dict[str, str], problems: list[dict[str, Any]]) -> int:
    return _int_between(params, "max_results", 10, (5, 100), problems)


def _int_between(
    params: dict[str, str],
    name: str,
    default: int,
    bounds: tuple[int, int],
    problems: list[dict[str, Any]],
) -> int:
    """An integer parameter within `bounds`, `default` when absent; else a problem."""
    raw = params.get(name, str(default))
    low, high = bounds
    if raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    problems.append(
        _problem(
            name,
            [raw],
            f"The `{name}` query parameter value [{raw}] is not between {low} and {high}",
        )
    )
    return default


def _parse_window(
    query: TimelineQuery, params: dict[str, str], problems: list[dict[str, Any]]
) -> None:
    """Set the id and time bounds of a timeline query."""
    if "since_id" in params and _check_id("since_id", params["since_id"], problems):
        query.since_id = int(params["since_id"])
    if "until_id" in params and _check_id("until_id", params["until_id"], problems):
        query.until_id = int(params["until_id"])
    if "start_time" in params:
        query.start_ms = _parse_time("start_time", params["start_time"], problems)
    if "end_time" in params:
        query.end_ms = _parse_time("end_time", params["end_time"], problems)
    if query.start_ms is not None and query.end_ms is not None and query.start_ms > query.end_ms:
        problems.append(_order_problem(params))


def _order_problem(params: dict[str, str]) -> dict[str, Any]:
    """The problem of a start_time that is not before the end_time."""
    return _problem(
        "start_time",
        [params["start_time"]],
        f"Invalid 'start_time':'{params['start_time']}'. 'start_time' must be before"
        f" 'end_time':'{params['end_time']}'",
    )


def _parse_cursor(
    user_id: str, token: str, problems: list[dict[str, Any]]
) -> tuple[str, int] | None:
    """Return (direction, cursor) of a pagination token issued for this user's timeline."""
    decoded = _decode_token(token)
    if decoded is None or decoded[0] not in ("n", "p") or decoded[1] != user_id:
        problems.append(
            _problem(
                "pagination_token",
                [token],
                f"The `pagination_token` query parameter value [{token}] is not valid",
            )
        )
        return None
    return decoded[0], decoded[2]


def _bounds(query: TimelineQuery, now_ms: int, *, private: bool) -> tuple[int | None, int | None]:
    """Exclusive (upper, lower) id bounds of the posts a timeline request may return."""
    uppers: list[int] = []
    lowers: list[int] = []
    if query.until_id is not None:
        uppers.append(query.until_id)
    if query.end_ms is not None:
        uppers.append(snowflake(query.end_ms + 1, 0))
    if query.since_id is not None:
        lowers.append(query.since_id)
    if query.start_ms is not None:
        lowers.append(snowflake(query.start_ms, 0) - 1)
    if private:
        lowers.append(snowflake(now_ms - 30 * DAY_MS, 0) - 1)
    if query.cursor is not None and query.direction == "n":
        # Overlapping pages take the cursor post itself: the last one the page before held.
        uppers.append(query.cursor + 1 if query.overlap else query.cursor)
    elif query.cursor is not None:
        lowers.append(query.cursor)
    return (min(uppers) if uppers else None), (max(lowers) if lowers else None)


def _scan(
    tl: Timeline, query: TimelineQuery, now_ms: int, *, private: bool
) -> tuple[list[Post], bool]:
    """Return one page of a timeline (newest first) and whether more posts follow it."""
    upper, lower = _bounds(query, now_ms, private=private)
    cap = TIMELINE_CAP_NO_REPLIES if "replies" in query.exclude else TIMELINE_CAP
    lo = tl.first_index_below(upper) if upper is not None else 0
    hi = min(cap, len(tl.posts))
    if lower is not None:
        hi = min(hi, tl.first_index_at_or_below(lower))
    skip_retweets = "retweets" in query.exclude
    skip_replies = "replies" in query.exclude
    order = range(lo, hi) if query.direction == "n" else range(hi - 1, lo - 1, -1)
    page: list[Post] = []
    for i in order:
        post = tl.posts[i]
        if (skip_retweets and post.is_retweet) or (skip_replies and post.is_reply):
            continue
        if len(page) == query.max_results:
            return (page if query.direction == "n" else page[::-1]), True
        page.append(post)
    return (page if query.direction == "n" else page[::-1]), False


def _poison(out: dict[str, Any], path: str, value: Any) -> None:
    """Serve `value` at `path` ("family.leaf") of a rendered object, if that family is there."""
    family, leaf = path.split(".")
    served = out.get(family)
    if isinstance(served, dict) and leaf in served:
        out[family] = {**served, leaf: value}


def _first(data: list[dict[str, Any]]) -> dict[str, Any] | None:
    return data[0] if data else None


def _envelope(
    data: list[dict[str, Any]] | dict[str, Any] | None,
    includes: dict[str, Any],
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if includes:
        body["includes"] = includes
    if errors:
        body["errors"] = errors
    return body
