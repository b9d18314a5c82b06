"""Offline X API v2 emulator: the data, HTTP behaviour and credentials the tap is tested against.

Usage::

    with Sandbox(SandboxOptions(seed=7)) as sb:
        config = {**sb.config_for("oauth1"), "user_ids": [sb.world.main_user_id]}
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tap_twitter_metrics_sandbox.api import PAGINATION_FAULTS, SPELLINGS, Api
from tap_twitter_metrics_sandbox.auth import CREDENTIALS, Authenticator
from tap_twitter_metrics_sandbox.faults import FAULT_KINDS, Fault, FaultTable, RateLimiter
from tap_twitter_metrics_sandbox.server import (
    LoggedRequest,
    Reply,
    SandboxApp,
    SandboxHTTPServer,
    json_reply,
    logged_as_dict,
)
from tap_twitter_metrics_sandbox.usage import (
    POISONED_PROJECT_CAP,
    USAGE_SHAPES,
    Usage,
    UsageCounts,
    UsageMeter,
)
from tap_twitter_metrics_sandbox.world import (
    MAIN_USER_ID,
    ODD_TEXTS,
    PARTNER_USER_ID,
    POISONED_POST_VALUES,
    POISONED_USER_VALUE,
    Media,
    Oddities,
    Post,
    User,
    World,
    default_now,
)

if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

__all__ = [
    "CREDENTIALS",
    "FAULT_KINDS",
    "MAIN_USER_ID",
    "ODD_TEXTS",
    "PAGINATION_FAULTS",
    "PARTNER_USER_ID",
    "POISONED_POST_VALUES",
    "POISONED_PROJECT_CAP",
    "POISONED_USER_VALUE",
    "SPELLINGS",
    "USAGE_SHAPES",
    "LoggedRequest",
    "Media",
    "Oddities",
    "Post",
    "Sandbox",
    "SandboxOptions",
    "Usage",
    "UsageCounts",
    "User",
    "World",
]

CONFIG_KINDS = ("bearer", "oauth1", "oauth2", "partner_oauth1")


@dataclass
class SandboxOptions:
    """How the sandbox world and server behave.

    `rate_limit` is the number of requests allowed per window per route and token identity
    (None: the published limits). `now` pins the instant the world is generated around
    (default: the real time at start); private-field visibility always uses the real clock.
    `not_found_variant` picks how GET /2/tweets/:id reports an unknown id: "errors" (HTTP 200
    with only `errors`) or "404" (problem body). `analytics_forbidden` makes both analytics
    endpoints answer 403 "Client Forbidden" (client-not-enrolled) to everyone, as X does to
    some accounts or tiers. `analytics_string_counter` False turns off the one counter served
    as text (`World.string_counter_media_key`).

    Left at their defaults, the options below change neither the world nor any response:

    `spelling` "2.167" speaks X's OpenAPI specification 2.167 (default "2.159"): post
    metrics say `repost_count` in every family, whatever `retweet_key` says (`retweet_key`
    "repost_count" with the default spelling renames that metric and nothing else), user
    public_metrics say `post_count`, posts `edit_history_post_ids` and `referenced_posts`
    (expansion names stay as they were); problem `type` URLs are
    https://api.x.com/2/problems/<kind>, a refused private field's kind is
    `field-unauthorized`, and API problem bodies other than 200s are served as
    application/problem+json. /2/tweets, /2/tweets/:id and /2/users/:id/tweets then take
    `post.fields` (2.167 names, no author_id or in_reply_to_user_id) as well as
    `tweet.fields` (old names), not both at once.
    `odd_text`: six posts of the main account carry odd text (`World.odd_text_post_ids`,
    `World.odd_texts`, ODD_TEXTS): emoji, right-to-left, newlines and tabs, a NUL, a lone
    UTF-16 surrogate (served as its JSON escape, as X sends it), NULs in a hashtag and a
    mention (`World.odd_entities`); responses are then UTF-8, not ASCII escapes.
    `poison_metrics`: three posts serve a broken figure (`World.poisoned_posts`, post id ->
    (path, value): like_count "12a", reply_count 3.5, impression_count 2**64 + 5) and the
    main account followers_count "many" (`World.poisoned_users`); GET /2/usage/tweets serves
    project_cap "unlimited" (POISONED_PROJECT_CAP).
    `pagination_fault` on GET /2/users/:id/tweets: "repeat-token" answers every request with
    a pagination_token with that same token as next_token (a client following it never
    ends); "overlap" starts every page after the first with the last post of the page
    before.
    `missing_media_include`: one post (`World.missing_media_post_id`) lists a media key
    (`World.missing_media_key`) that `includes.media` leaves out.
    `usage_shape` is the shape of GET /2/usage/tweets, on which X's documentation disagrees:
    "object" (default; counts as strings, `daily_project_usage` an object of dated usage,
    `daily_client_app_usage` one per app) or "list" (counts as numbers, both daily fields
    lists of dates, each with `tweets_consumed` per `app_id`).
    """

    seed: int = 7
    posts: int = 240
    partner_posts: int = 40
    rate_limit: int | None = None
    window_seconds: float = 900
    latency_ms: int = 0
    promoted_variant: str = "absent"
    retweet_key: str = "retweet_count"
    lookup_posts: int = 0
    oauth2_access_ttl: int = 7200
    now: datetime | None = None
    not_found_variant: str = "errors"
    analytics_forbidden: bool = False
    analytics_string_counter: bool = True
    spelling: str = "2.159"
    odd_text: bool = False
    poison_metrics: bool = False
    pagination_fault: str | None = None
    missing_media_include: bool = False
    usage_shape: str = "object"

    @property
    def oddities(self) -> Oddities:
        """The odd data asked for, as the world takes it."""
        return Oddities(
            odd_text=self.odd_text,
            poison_metrics=self.poison_metrics,
            missing_media_include=self.missing_media_include,
        )

    def validate(self) -> None:
        """Raise ValueError on an impossible option."""
        if self.spelling not in SPELLINGS:
            msg = f"spelling must be one of {', '.join(SPELLINGS)}"
            raise ValueError(msg)
        if self.pagination_fault not in (None, *PAGINATION_FAULTS):
            msg = f"pagination_fault must be None or one of {', '.join(PAGINATION_FAULTS)}"
            raise ValueError(msg)
        if self.usage_shape not in USAGE_SHAPES:
            msg = f"usage_shape must be one of {', '.join(USAGE_SHAPES)}"
            raise ValueError(msg)
        if self.promoted_variant not in ("absent", "blank"):
            msg = "promoted_variant must be 'absent' or 'blank'"
            raise ValueError(msg)
        if self.retweet_key not in ("retweet_count", "repost_count"):
            msg = "retweet_key must be 'retweet_count' or 'repost_count'"
            raise ValueError(msg)
        if self.not_found_variant not in ("errors", "404"):
            msg = "not_found_variant must be 'errors' or '404'"
            raise ValueError(msg)
        if min(self.posts, self.partner_posts, self.lookup_posts, self.latency_ms) < 0:
            msg = "sizes and latency must not be negative"
            raise ValueError(msg)
        if self.rate_limit is not None and self.rate_limit < 1:
            msg = "rate_limit must be at least 1 (or None for the published limits)"
            raise ValueError(msg)
        if self.window_seconds <= 0:
            msg = "window_seconds must be positive"
            raise ValueError(msg)


class Sandbox:
    """The sandbox server on 127.0.0.1 (a free port unless `port` is given)."""

    def __init__(self, options: SandboxOptions | None = None, *, port: int = 0) -> None:
        self.options = options or SandboxOptions()
        self.options.validate()
        opts = self.options
        self.world = World(
            seed=opts.seed,
            posts=opts.posts,
            partner_posts=opts.partner_posts,
            lookup_posts=opts.lookup_posts,
            now=opts.now or default_now(),
            string_counter=opts.analytics_string_counter,
            oddities=opts.oddities,
        )
        self.faults = FaultTable()
        self.meter = UsageMeter()
        self.limiter = RateLimiter(limit=opts.rate_limit, window_seconds=opts.window_seconds)
        self.authenticator = Authenticator(
            access_ttl=opts.oauth2_access_ttl, clock=lambda: self.world.now_ms() / 1000
        )
        self.app = SandboxApp(
            world=self.world,
            api=_api(self.world, opts, self.meter),
            auth=self.authenticator,
            limiter=self.limiter,
            faults=self.faults,
            latency_ms=opts.latency_ms,
            admin=self._admin,
            spelling=opts.spelling,
            raw_utf8=opts.odd_text,
        )
        self._port = port
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start serving in a daemon thread."""
        if self._server is not None:
            return self
        self._server = SandboxHTTPServer(("127.0.0.1", self._port), self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="x-api-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port served on."""
        if self._server is None:
            msg = "sandbox is not running"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (use as the tap's api_url)."""
        return f"http://127.0.0.1:{self.port}"

    # --- inspection and control -----------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every API request served so far (admin requests excluded), oldest first."""
        return self.app.requests()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.app.clear()

    def usage(self) -> Usage:
        """The resources served so far, and those X would bill (once per resource and day)."""
        return self.meter.usage()

    def reset_usage(self) -> None:
        """Forget the resources served so far."""
        self.meter.reset()

    def advance(self, new_posts: int = 5, metric_growth: bool = True) -> list[Post]:
        """Add posts to the main account created now; grow metrics of posts under 7 days old."""
        with self.app.lock:
            return self.world.advance(
                new_posts=new_posts, metric_growth=metric_growth, now_ms=int(time.time() * 1000)
            )

    def add_fault(
        self,
        route: str,
        kind: str,
        nth: int = 1,
        times: int = 1,
        *,
        retry_after: int = 60,
        delay: float = 5.0,
    ) -> Fault:
        """Inject a fault on the nth matching request from now on (route template or "*")."""
        return self.faults.add(
            Fault(
                route=route, kind=kind, nth=nth, times=times, retry_after=retry_after, delay=delay
            )
        )

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        self.faults.clear()

    def issue_refresh_token(self, user_id: str | None = None) -> str:
        """Mint a new OAuth 2.0 refresh token (as after a fresh sign-in) for a user."""
        return self.authenticator.issue_refresh_token(user_id or self.world.main_user_id)

    def config_for(self, kind: str) -> dict[str, Any]:
        """Tap config (api_url and credentials only) for bearer, oauth1, oauth2, partner_oauth1."""
        base: dict[str, Any] = {"api_url": self.url}
        if kind == "bearer":
            base["bearer_token"] = CREDENTIALS["bearer_token"]
        elif kind in ("oauth1", "partner_oauth1"):
            prefix = "partner_" if kind == "partner_oauth1" else ""
            base.update(
                consumer_key=CREDENTIALS["consumer_key"],
                consumer_secret=CREDENTIALS["consumer_secret"],
                access_token=CREDENTIALS[f"{prefix}access_token"],
                access_token_secret=CREDENTIALS[f"{prefix}access_token_secret"],
            )
        elif kind == "oauth2":
            base.update(
                oauth2_client_id=CREDENTIALS["oauth2_client_id"],
                oauth2_client_secret=CREDENTIALS["oauth2_client_secret"],
                oauth2_refresh_token=CREDENTIALS["oauth2_refresh_token"],
            )
        else:
            msg = f"unknown config kind {kind!r}; expected one of {CONFIG_KINDS}"
            raise ValueError(msg)
        return base

    # --- admin endpoints ------------------------------------------------------------------

    def _admin(self, method: str, path: str, params: dict[str, str], body: bytes) -> Reply | None:
        payload = _json_object(body)
        if isinstance(payload, Reply):
            return payload
        if method == "GET":
            return self._admin_read(path, params)
        if method == "DELETE":
            return self._admin_clear(path)
        if method == "POST":
            return self._admin_post(path, payload)
        return None

    def _admin_read(self, path: str, params: dict[str, str]) -> Reply | None:
        if path == "/_sandbox/requests":
            return json_reply(200, [logged_as_dict(r) for r in self.requests])
        if path == "/_sandbox/world":
            with self.app.lock:
                summary = self.world.summary(full=params.get("full") in ("1", "true"))
            return json_reply(200, summary)
        if path == "/_sandbox/usage":
            return json_reply(200, asdict(self.usage()))
        return None

    def _admin_clear(self, path: str) -> Reply | None:
        if path == "/_sandbox/requests":
            self.clear_requests()
        elif path == "/_sandbox/faults":
            self.clear_faults()
        elif path == "/_sandbox/usage":
            self.reset_usage()
        else:
            return None
        return json_reply(200, {"cleared": True})

    def _admin_post(self, path: str, payload: dict[str, Any]) -> Reply | None:
        if path == "/_sandbox/advance":
            created = self.advance(
                new_posts=int(payload.get("new_posts", 5)),
                metric_growth=bool(payload.get("metric_growth", True)),
            )
            return json_reply(200, {"created": [p.id for p in created]})
        if path == "/_sandbox/faults":
            return self._admin_add_fault(payload)
        return None

    def _admin_add_fault(self, payload: dict[str, Any]) -> Reply:
        try:
            fault = self.add_fault(
                route=str(payload["route"]),
                kind=str(payload["kind"]),
                nth=int(payload.get("nth", 1)),
                times=int(payload.get("times", 1)),
                retry_after=int(payload.get("retry_after", 60)),
                delay=float(payload.get("delay", 5.0)),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return json_reply(400, {"error": str(exc)})
        return json_reply(200, {"route": fault.route, "kind": fault.kind, "nth": fault.nth})


def _api(world: World, opts: SandboxOptions, meter: UsageMeter) -> Api:
    """The request handlers the options ask for."""
    return Api(
        world,
        promoted_variant=opts.promoted_variant,
        retweet_key=opts.retweet_key,
        not_found_variant=opts.not_found_variant,
        analytics_forbidden=opts.analytics_forbidden,
        spelling=opts.spelling,
        pagination_fault=opts.pagination_fault,
        meter=meter,
        usage_shape=opts.usage_shape,
    )


def _json_object(body: bytes) -> dict[str, Any] | Reply:
    """Parse an admin request body (empty means {}); a 400 reply unless it is a JSON object."""
    try:
        payload: Any = json.loads(body) if body.strip() else {}
    except ValueError:
        return json_reply(400, {"error": "body must be JSON"})
    if not isinstance(payload, dict):
        return json_reply(400, {"error": "body must be a JSON object"})
    return payload
