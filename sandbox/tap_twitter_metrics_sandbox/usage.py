"""What the sandbox served, counted the way X bills it, and X's usage endpoint's answer.

X bills pay-per-use per resource returned, once per resource and UTC day, and only for
responses that return data: posts (those of the caller's own timeline at a lower price),
users, and the posts and videos of its analytics. Media objects are not billed.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tap_twitter_metrics_sandbox.world import DAY_MS, api_time

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_twitter_metrics_sandbox.auth import Caller

USAGE_SHAPES = ("object", "list")
USAGE_FIELDS = (
    "cap_reset_day",
    "daily_client_app_usage",
    "daily_project_usage",
    "project_cap",
    "project_id",
    "project_usage",
)
DEFAULT_USAGE_FIELDS = ("project_id", "project_cap", "project_usage", "cap_reset_day")
PROJECT_ID = "1234567890"
CLIENT_APP_ID = "2342343"
PROJECT_CAP = 2_000_000
CAP_RESET_DAY = 19
POISONED_PROJECT_CAP = "unlimited"
USER_ROUTES = frozenset(
    {"/2/users/me", "/2/users", "/2/users/by", "/2/users/by/username/:username", "/2/users/:id"}
)
POST_ROUTES = frozenset({"/2/tweets", "/2/tweets/:id", "/2/users/:id/tweets"})
ANALYTICS_ROUTES = frozenset({"/2/tweets/analytics", "/2/media/analytics"})


@dataclass(frozen=True)
class UsageCounts:
    """Resources by how X prices them."""

    own_posts: int = 0
    other_posts: int = 0
    users: int = 0
    analytics: int = 0


@dataclass(frozen=True)
class Usage:
    """`served`: every resource of every 2xx response; `billed`: once per resource and UTC day."""

    served: UsageCounts
    billed: UsageCounts


KINDS = tuple(field.name for field in fields(UsageCounts))


def _ids(items: object, key: str) -> list[str]:
    """The `key` of each object of `items` (a list, or one object)."""
    objects = items if isinstance(items, list) else [items] if isinstance(items, dict) else []
    return [str(item[key]) for item in objects if isinstance(item, dict) and key in item]


def billed_resources(
    route: str, path_params: dict[str, str], caller: Caller, body: dict[str, Any]
) -> list[tuple[str, str]]:
    """(kind, resource id) of every resource X bills in a 2xx response body of `route`."""
    data = body.get("data")
    includes = body.get("includes")
    includes = includes if isinstance(includes, dict) else {}
    found: list[tuple[str, str]] = [("users", i) for i in _ids(includes.get("users"), "id")]
    found += [("other_posts", i) for i in _ids(includes.get("tweets"), "id")]
    if route in USER_ROUTES:
        found += [("users", i) for i in _ids(data, "id")]
    elif route in POST_ROUTES:
        own = route == "/2/users/:id/tweets" and path_params.get("id") == caller.user_id
        found += [("own_posts" if own else "other_posts", i) for i in _ids(data, "id")]
    elif route in ANALYTICS_ROUTES:
        key = "id" if route == "/2/tweets/analytics" else "media_key"
        found += [("analytics", i) for i in _ids(data, key)]
    return found


def utc_day(ms: int) -> str:
    """The UTC day of an instant, as `2026-11-28`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


class UsageMeter:
    """Counts the resources served and billed; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served = dict.fromkeys(KINDS, 0)
        self._billed: set[tuple[str, str, str]] = set()

    def count(
        self,
        route: str,
        path_params: dict[str, str],
        caller: Caller,
        body: dict[str, Any],
        now_ms: int,
    ) -> None:
        """Count the resources of a 2xx response to `caller` on `route`, served at `now_ms`."""
        day = utc_day(now_ms)
        resources = billed_resources(route, path_params, caller, body)
        with self._lock:
            for kind, resource_id in resources:
                self._served[kind] += 1
                self._billed.add((kind, resource_id, day))

    def usage(self) -> Usage:
        """The counts so far."""
        with self._lock:
            billed = dict.fromkeys(KINDS, 0)
            for kind, _id, _day in self._billed:
                billed[kind] += 1
            return Usage(UsageCounts(**self._served), UsageCounts(**billed))

    def posts_per_day(self) -> dict[str, int]:
        """Posts billed (own and other) per UTC day."""
        with self._lock:
            days = Counter(day for kind, _id, day in self._billed if kind.endswith("_posts"))
        return dict(sorted(days.items()))

    def reset(self) -> None:
        """Forget everything counted."""
        with self._lock:
            self._served = dict.fromkeys(KINDS, 0)
            self._billed.clear()


def usage_data(
    posts_per_day: dict[str, int],
    *,
    asked: Iterable[str],
    days: int,
    now_ms: int,
    shape: str,
    poison: bool = False,
) -> dict[str, Any]:
    """The `data` of GET /2/usage/tweets: default fields and those asked, in `shape`.

    Daily figures cover the `days` UTC days up to today, oldest first, days without posts
    included; the project's usage is every post billed so far. `poison` serves a project cap
    that is no count.
    """
    today = now_ms - now_ms % DAY_MS
    dates = [today - back * DAY_MS for back in range(days - 1, -1, -1)]
    daily = [(api_time(ms), posts_per_day.get(utc_day(ms), 0)) for ms in dates]
    count = str if shape == "object" else int
    values: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "project_cap": POISONED_PROJECT_CAP if poison else count(PROJECT_CAP),
        "project_usage": count(sum(posts_per_day.values())),
        "cap_reset_day": CAP_RESET_DAY,
    }
    if shape == "object":
        usage = [{"date": date, "usage": str(posts)} for date, posts in daily]
        values["daily_project_usage"] = {"project_id": PROJECT_ID, "usage": usage}
        values["daily_client_app_usage"] = [
            {"client_app_id": CLIENT_APP_ID, "usage": usage, "usage_result_count": len(usage)}
        ]
    else:
        values["daily_project_usage"] = values["daily_client_app_usage"] = [
            {"date": date, "usage": [{"app_id": CLIENT_APP_ID, "tweets_consumed": posts}]}
            for date, posts in daily
        ]
    wanted = {*DEFAULT_USAGE_FIELDS, *asked}
    return {name: value for name, value in values.items() if name in wanted}
