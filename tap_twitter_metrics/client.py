"""HTTP client for the X API v2: rate limits, retries and problem bodies.

One pass over the API feeds all eleven streams, so every request goes through this client
instead of per-stream RESTStream loops; the SDK's retry exceptions are reused.
"""

from __future__ import annotations

import re
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timezone

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from requests.auth import AuthBase

RATE_LIMIT_MARGIN_SECONDS = 1
_NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")
_USERNAME_SEGMENT = re.compile(r"(?<=/by/username/)[^/]+")


class ApiError(FatalAPIError):
    """The API refused the run in a way that waiting or retrying cannot fix."""


class RateLimitWaitTooLongError(ApiError):
    """The next rate-limit window opens later than the configured maximum wait."""


@dataclass
class RunStats:
    """What a run did, for the closing summary and the tests."""

    requests: int = 0
    posts_read: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    retries: int = 0
    records: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def count_record(self, stream: str) -> None:
        """Count one record written to `stream`."""
        self.records[stream] = self.records.get(stream, 0) + 1

    def count_problem(self, kind: str, resource: str) -> None:
        """Remember one partial error of `kind` about `resource`."""
        self.problems.setdefault(kind, []).append(resource)


@dataclass
class _Window:
    remaining: int | None = None
    reset_at: float | None = None


def route_of(path: str) -> str:
    """Name an endpoint the way the API docs do: `/2/users/:id/tweets`."""
    path = _USERNAME_SEGMENT.sub(":username", path)
    return _NUMERIC_SEGMENT.sub("/:id", path)


def problem_type(body: Mapping[str, t.Any]) -> str:
    """Last path segment of a problem `type`.

    Recordings use api.twitter.com and the newest spec api.x.com, so only the suffix counts.
    """
    kind = body.get("type")
    return kind.rstrip("/").rsplit("/", 1)[-1] if isinstance(kind, str) else ""


def describe_problem(response: requests.Response) -> str:
    """The API's own words about a failed request: title, detail and reason."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} {response.reason}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code} {response.reason}"
    parts = [f"{key}: {body[key]}" for key in ("title", "detail", "reason") if body.get(key)]
    if not parts and isinstance(body.get("errors"), list):
        parts = [str(error.get("message", error)) for error in body["errors"][:3]]
    return "; ".join(parts) or f"HTTP {response.status_code} {response.reason}"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%S UTC")


class XApiClient:
    """GET requests against the X API v2 with the waits and retries a schedule needs."""

    def __init__(
        self,
        *,
        api_url: str,
        auth: AuthBase,
        credential: str,
        logger: logging.Logger,
        stats: RunStats,
        max_wait_seconds: float = 900,
        max_tries: int = 5,
        timeout: float = 60,
        on_unauthorized: Callable[[], bool] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credential = credential
        self.logger = logger
        self.stats = stats
        self.max_wait_seconds = max_wait_seconds
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = "tap-twitter-metrics"
        self._windows: dict[str, _Window] = {}
        self._on_unauthorized = on_unauthorized
        self._get_with_retries = backoff.on_exception(
            backoff.expo,
            RetriableAPIError,
            max_tries=max_tries,
            factor=0.5,
            max_value=30,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
        )(self._get_once)
        self.max_tries = max_tries

    def get(self, path: str, params: Mapping[str, str]) -> dict[str, t.Any]:
        """Return the decoded JSON body of `GET path`, waiting and retrying as needed."""
        try:
            return self._get_with_retries(path, params)
        except RetriableAPIError as error:
            msg = (
                f"{error}. Gave up after {self.max_tries} tries: the X API or the network is "
                "failing. Run again later; the next run carries on from the last state."
            )
            raise ApiError(msg) from None

    def _get_once(self, path: str, params: Mapping[str, str]) -> dict[str, t.Any]:
        route = route_of(path)
        refreshed = False
        for _ in range(10):
            self._wait_for_window(route)
            response = self._send(path, params)
            self._remember_window(route, response)
            if response.status_code == 429 and not self._is_usage_cap(response):
                self._wait_for_reset(route)
                continue
            if response.status_code == 401 and self._on_unauthorized and not refreshed:
                refreshed = self._on_unauthorized()
                continue
            return self._decode(route, response)
        msg = f"GET {route} was refused 10 times in a row; giving up."
        raise ApiError(msg)

    def _send(self, path: str, params: Mapping[str, str]) -> requests.Response:
        self.stats.requests += 1
        try:
            return self.session.get(self.api_url + path, params=params, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            msg = f"GET {route_of(path)} failed: {type(error).__name__}"
            raise RetriableAPIError(msg) from None

    def _decode(self, route: str, response: requests.Response) -> dict[str, t.Any]:
        status = response.status_code
        if status >= 500:
            msg = f"GET {route} answered HTTP {status}: {describe_problem(response)}"
            raise RetriableAPIError(msg, response)
        if status == 429:
            msg = (
                f"GET {route}: the X API usage cap is reached ({describe_problem(response)}). "
                "Waiting does not help: raise the cap in the developer portal or wait for the "
                "next billing period."
            )
            raise ApiError(msg)
        if status in {401, 403}:
            msg = (
                f"GET {route} was refused with HTTP {status} using the {self.credential}: "
                f"{describe_problem(response)}. Check that the credentials are current, "
                "belong to an app in a project with X API v2 access, and that user-context "
                "streams are used with user-context credentials."
            )
            raise ApiError(msg)
        if status >= 400 and not (status == 404 and route == "/2/tweets/:id"):
            msg = f"GET {route} was rejected with HTTP {status}: {describe_problem(response)}"
            raise ApiError(msg)
        try:
            body = response.json()
        except ValueError:
            msg = f"GET {route} returned a body that is not valid JSON (HTTP {status})"
            raise RetriableAPIError(msg, response) from None
        if not isinstance(body, dict):
            msg = f"GET {route} returned JSON that is not an object (HTTP {status})"
            raise RetriableAPIError(msg, response)
        return body

    @staticmethod
    def _is_usage_cap(response: requests.Response) -> bool:
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and problem_type(body) == "usage-capped"

    def _remember_window(self, route: str, response: requests.Response) -> None:
        try:
            remaining = int(response.headers["x-rate-limit-remaining"])
            reset_at = float(response.headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return
        self._windows[route] = _Window(remaining, reset_at)

    def _wait_for_window(self, route: str) -> None:
        window = self._windows.get(route)
        if window and window.remaining == 0 and window.reset_at:
            self._sleep_until(route, window.reset_at, "rate limit window spent")
            self._windows.pop(route)

    def _wait_for_reset(self, route: str) -> None:
        window = self._windows.pop(route, None)
        reset_at = window.reset_at if window and window.reset_at else time.time() + 60
        self._sleep_until(route, reset_at, "HTTP 429 Too Many Requests")

    def _sleep_until(self, route: str, reset_at: float, reason: str) -> None:
        seconds = max(0.0, reset_at + RATE_LIMIT_MARGIN_SECONDS - time.time())
        if seconds > self.max_wait_seconds:
            msg = (
                f"GET {route}: {reason} and the window reopens in {seconds:.0f} s, at "
                f"{_utc(reset_at)}, longer than rate_limit_max_wait_seconds "
                f"({self.max_wait_seconds:.0f}). Stopping; the next run carries on from the "
                "last state."
            )
            raise RateLimitWaitTooLongError(msg)
        self.logger.info(
            "Waiting %.0f s for GET %s (%s) until %s.",
            seconds,
            route,
            reason,
            _utc(reset_at + RATE_LIMIT_MARGIN_SECONDS),
        )
        self.stats.waits += 1
        self.stats.waited_seconds += seconds
        time.sleep(seconds)

    def _log_retry(self, details: t.Any) -> None:  # backoff's Details is a TypedDict
        self.stats.retries += 1
        error = details.get("exception")
        self.logger.warning(
            "Retry %d in %.1f s: %s",
            details["tries"],
            details["wait"],
            error,
        )
