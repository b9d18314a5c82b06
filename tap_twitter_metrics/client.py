"""HTTP client for the X API v2: rate limits, retries and problem bodies.

One pass over the API feeds every stream, so every request goes through this client instead
of per-stream RESTStream loops; the SDK's retry exceptions are reused.

What a failure prints is built here from the route, the status and the problem body's own
`title`, `detail` and `reason`: never from exception text, response text or request URLs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timezone

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_twitter_metrics.records import problem_kind

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from requests.auth import AuthBase

    _Get = Callable[[str, Mapping[str, str]], dict[str, t.Any]]

RATE_LIMIT_MARGIN_SECONDS = 1
# A 429 without a reset time: try again after a minute rather than a whole 15-minute window.
UNKNOWN_RESET_SECONDS = 60
MAX_RATE_LIMITED_TRIES = 10
BACKOFF_FACTOR_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30
# Their debug lines print the signed Authorization header, which holds the access token.
SIGNING_LOGGERS = ("requests_oauthlib", "oauthlib")
# Only ids after the `/2` version prefix.
_NUMERIC_SEGMENT = re.compile(r"(?<=.)/\d+(?=/|$)")
_USERNAME_SEGMENT = re.compile(r"(?<=/by/username/)[^/]+")
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
WHAT_TO_DO_TRANSIENT = (
    "The X API or the network is failing: run the sync again later, it carries on from the "
    "last state. If it keeps failing, check api_url and the X API status page."
)


class ApiError(FatalAPIError):
    """The API refused the run in a way that waiting or retrying cannot fix."""


class RateLimitWaitTooLongError(ApiError):
    """The next rate-limit window opens later than the configured maximum wait."""


class UsageCapError(ApiError):
    """The monthly or daily usage cap is spent: waiting for a window does not help."""


class CredentialsRefusedError(ApiError):
    """HTTP 401 or 403: the credentials are wrong, revoked or not allowed here."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class TransientError(RetriableAPIError):
    """A failure worth another try: 5xx, a broken connection, a timeout, a broken body."""

    def __init__(self, route: str, status: str, response: requests.Response | None = None) -> None:
        super().__init__(f"GET {route}: {status}", response)
        self.route = route
        self.status = status


@dataclass
class ProblemTally:
    """Partial errors of one kind: how many resources they named, and the first ten."""

    resources: int = 0
    examples: list[str] = field(default_factory=list)
    last: str | None = None

    def add(self, resource: str) -> None:
        """Count one error about `resource`."""
        # The errors about one resource come together (one per refused field), so only a
        # change of resource counts: memory stays the same however many posts are refused.
        if resource != self.last:
            self.last = resource
            self.resources += 1
            if len(self.examples) < 10 and resource not in self.examples:
                self.examples.append(resource)


@dataclass
class RunStats:
    """What a run did, for the closing summary and the tests."""

    requests: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    retries: int = 0
    problems: dict[str, ProblemTally] = field(default_factory=dict)

    def count_problem(self, kind: str, resource: str) -> None:
        """Remember one partial error of `kind` about `resource`."""
        self.problems.setdefault(kind, ProblemTally()).add(resource)


@dataclass
class _Window:
    remaining: int | None = None
    reset_at: float | None = None


def route_of(path: str) -> str:
    """Name an endpoint the way the API docs do: `/2/users/:id/tweets`."""
    path = _USERNAME_SEGMENT.sub(":username", path)
    return _NUMERIC_SEGMENT.sub("/:id", path)


def _json_object(response: requests.Response) -> dict[str, t.Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def http_status(response: requests.Response) -> str:
    """`HTTP 503 Service Unavailable`."""
    return f"HTTP {response.status_code} {response.reason or ''}".rstrip()


def describe_problem(response: requests.Response) -> str:
    """The API's own words about a failed request: title, detail and reason."""
    body = _json_object(response)
    if body is None:
        return http_status(response)
    parts: list[str] = []
    said: set[str] = set()
    for key in ("title", "detail", "reason"):
        value = body.get(key)
        if isinstance(value, (str, int)) and str(value) and str(value) not in said:
            said.add(str(value))
            parts.append(f"{key}: {value}")
    if not parts and isinstance(body.get("errors"), list):
        parts = [
            str(error.get("message", "")) if isinstance(error, dict) else ""
            for error in body["errors"][:3]
        ]
        parts = [part for part in parts if part]
    return "; ".join(parts) or http_status(response)


def _usage_cap_name(response: requests.Response) -> str:
    body = _json_object(response) or {}
    words = [str(body[key]).lower() for key in ("period", "scope") if body.get(key)]
    return " ".join([*words, "usage cap"])


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _transport_status(error: Exception, timeout: float) -> str:
    """What went wrong below HTTP, without the exception's text (it holds the full URL)."""
    if isinstance(error, requests.Timeout):
        what = "connection" if isinstance(error, requests.ConnectTimeout) else "response"
        return f"no {what} within request_timeout ({timeout:g} s)"
    text = str(error).lower()
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        what = "the response was cut off"
    elif isinstance(error, requests.exceptions.ContentDecodingError):
        what = "the response could not be decoded"
    elif any(word in text for word in ("reset", "aborted", "remote end closed")):
        what = "the connection was reset"
    elif "refused" in text:
        what = "the connection was refused"
    else:
        what = "the connection failed"
    return f"no HTTP status: {what}"


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
        self.max_tries = max(1, max_tries)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["User-Agent"] = "tap-twitter-metrics"
        self._windows: dict[str, _Window] = {}
        # Lookup batches are fetched from a few threads: windows and counters are shared, and
        # one thread waits for a window (and says so) while the others queue behind it.
        self._lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._on_unauthorized = on_unauthorized
        for name in SIGNING_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        self._get_with_retries = self._with_backoff(self._get_once)

    def signed_with(self, auth: AuthBase, credential: str) -> XApiClient:
        """A client like this one that signs with another credential and counts in the same run.

        Some endpoints take only one kind of credential (X's usage endpoint, only the app's
        bearer token), whatever the run otherwise signs with.
        """
        return XApiClient(
            api_url=self.api_url,
            auth=auth,
            credential=credential,
            logger=self.logger,
            stats=self.stats,
            max_wait_seconds=self.max_wait_seconds,
            max_tries=self.max_tries,
            timeout=self.timeout,
        )

    def _with_backoff(self, get: _Get) -> _Get:
        """Wrap `get` to retry TransientError up to max_tries times with jittered backoff."""
        # backoff's own log lines print exception text: ours (_log_retry) say it once.
        return backoff.on_exception(
            backoff.expo,
            TransientError,
            max_tries=self.max_tries,
            factor=BACKOFF_FACTOR_SECONDS,
            max_value=BACKOFF_MAX_SECONDS,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
            logger=None,
        )(get)

    def get(self, path: str, params: Mapping[str, str]) -> dict[str, t.Any]:
        """Return the decoded JSON body of `GET path`, waiting and retrying as needed."""
        try:
            return self._get_with_retries(path, params)
        except TransientError as error:
            tries = "once" if self.max_tries == 1 else f"{self.max_tries} times in a row"
            msg = (
                f"GET {error.route} failed {tries} (max_retries), the last time with "
                f"{error.status}. {WHAT_TO_DO_TRANSIENT}"
            )
            raise ApiError(msg) from None

    def _get_once(self, path: str, params: Mapping[str, str]) -> dict[str, t.Any]:
        route = route_of(path)
        may_refresh = self._on_unauthorized is not None
        for _ in range(MAX_RATE_LIMITED_TRIES):
            self._wait_for_window(route)
            response = self._send(route, path, params)
            self._remember_window(route, response)
            if response.status_code == 429 and not self._is_usage_cap(response):
                self._wait_for_reset(route, response)
                continue
            if response.status_code == 401 and may_refresh and self._on_unauthorized:
                may_refresh = False
                if self._on_unauthorized():
                    continue
            return self._decode(route, response)
        msg = (
            f"GET {route} was answered HTTP 429 Too Many Requests {MAX_RATE_LIMITED_TRIES} "
            "times in a row, even after waiting for each rate-limit reset. Stopping; run the "
            "sync again later, it carries on from the last state."
        )
        raise ApiError(msg)

    def _send(self, route: str, path: str, params: Mapping[str, str]) -> requests.Response:
        with self._lock:
            self.stats.requests += 1
        try:
            return self.session.get(self.api_url + path, params=params, timeout=self.timeout)
        except _TRANSPORT_ERRORS as error:
            raise TransientError(route, _transport_status(error, self.timeout)) from None

    def _decode(self, route: str, response: requests.Response) -> dict[str, t.Any]:
        status = response.status_code
        if status >= 500:
            problem = describe_problem(response)
            plain = {http_status(response), f"title: {response.reason}"}
            said = "" if problem in plain else f" ({problem})"
            raise TransientError(route, f"{http_status(response)}{said}", response)
        if status == 429:
            msg = (
                f"GET {route}: the X API {_usage_cap_name(response)} is spent "
                f"({describe_problem(response)}). Waiting for a rate-limit window does not "
                "help, so the run stops now without retrying. Raise the cap or the plan in the "
                "developer portal, or run again once the cap resets; the next run carries on "
                "from the last state."
            )
            raise UsageCapError(msg)
        if status in {401, 403}:
            raise CredentialsRefusedError(
                self._refusal_message(route, response), status=response.status_code
            )
        if status >= 400 and not (status == 404 and route == "/2/tweets/:id"):
            msg = (
                f"GET {route} was rejected with {http_status(response)}: "
                f"{describe_problem(response)}"
            )
            raise ApiError(msg)
        body = _json_object(response)
        if body is None:
            kind = "not a JSON object" if _is_json(response) else "not valid JSON (cut off?)"
            raise TransientError(route, f"{http_status(response)} with a body that is {kind}")
        return body

    def _refusal_message(self, route: str, response: requests.Response) -> str:
        said = f"GET {route} was refused with {http_status(response)} using the {self.credential}"
        if response.status_code == 401:
            check = (
                "Check that these credentials are complete and current: keys and tokens stop "
                "working when they are regenerated or revoked, or when the app is deleted."
            )
        else:
            check = (
                "Check that the app is attached to a Project with access to this endpoint at "
                "your plan's level, and that streams with private metrics use OAuth 1.0a or "
                "OAuth 2.0 user-context credentials."
            )
        return f"{said}. The API said: {describe_problem(response)}. {check}"

    @staticmethod
    def _is_usage_cap(response: requests.Response) -> bool:
        body = _json_object(response)
        return body is not None and problem_kind(body.get("type")) == "usage-capped"

    @staticmethod
    def _reset_header(response: requests.Response) -> float | None:
        try:
            return float(response.headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return None

    def _remember_window(self, route: str, response: requests.Response) -> None:
        """Note the route's window from the response's headers."""
        reset_at = self._reset_header(response)
        try:
            remaining = int(response.headers["x-rate-limit-remaining"])
        except (KeyError, ValueError):
            return
        if reset_at is None:
            return
        with self._lock:
            known = self._windows.get(route)
            if known and known.reset_at == reset_at and known.remaining is not None:
                # Requests sent since this one was answered are already counted.
                remaining = min(remaining, known.remaining)
            self._windows[route] = _Window(remaining, reset_at)

    def _wait_for_window(self, route: str) -> None:
        """Take one request of the route's window, first waiting for the reset if it is spent.

        A route not answered yet in this run is not held back: its window is unknown.
        """
        while True:
            with self._lock:
                window = self._windows.get(route)
                if window is None or window.remaining is None or window.reset_at is None:
                    return
                if window.remaining > 0:
                    window.remaining -= 1
                    return
            with self._wait_lock:
                self._sleep_until(route, window.reset_at, "rate-limit window spent")
                with self._lock:
                    if self._windows.get(route) is window:
                        del self._windows[route]

    def _wait_for_reset(self, route: str, response: requests.Response) -> None:
        reset_at = self._reset_header(response) or time.time() + UNKNOWN_RESET_SECONDS
        with self._wait_lock:
            self._sleep_until(route, reset_at, "HTTP 429 Too Many Requests")
            with self._lock:
                window = self._windows.get(route)
                if window is not None and window.reset_at == reset_at:
                    del self._windows[route]

    def _sleep_until(self, route: str, reset_at: float, reason: str) -> None:
        until = reset_at + RATE_LIMIT_MARGIN_SECONDS
        seconds = until - time.time()
        if seconds <= 0:
            return
        if seconds > self.max_wait_seconds:
            msg = (
                f"GET {route}: {reason}; the next window opens at {_utc(until)}, in "
                f"{seconds:.0f} s, longer than rate_limit_max_wait_seconds "
                f"({self.max_wait_seconds:g}). Stopping now: run the sync again after "
                f"{_utc(until)}, it carries on from the last state."
            )
            raise RateLimitWaitTooLongError(msg)
        self.logger.info(
            "Waiting %.1f s for GET %s (%s) until %s.", seconds, route, reason, _utc(until)
        )
        with self._lock:
            self.stats.waits += 1
            self.stats.waited_seconds += seconds
        time.sleep(seconds)

    def _log_retry(self, details: t.Any) -> None:  # backoff's Details is a TypedDict
        with self._lock:
            self.stats.retries += 1
        error = details.get("exception")
        status = error.status if isinstance(error, TransientError) else type(error).__name__
        route = error.route if isinstance(error, TransientError) else "?"
        self.logger.warning(
            "GET %s: %s; retry %d of %d in %.1f s.",
            route,
            status,
            details["tries"],
            self.max_tries - 1,
            details["wait"],
        )
