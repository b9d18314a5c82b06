"""The API client on its own: waits, retries and refusals, against scripted answers."""

from __future__ import annotations

import json
import logging
import re
import threading
import typing as t
from http import HTTPStatus

import pytest
import requests
from requests.adapters import BaseAdapter

from tap_twitter_metrics.client import (
    ApiError,
    CredentialsRefusedError,
    RateLimitWaitTooLongError,
    RunStats,
    UsageCapError,
    XApiClient,
    route_of,
)
from tap_twitter_metrics.credentials import BearerAuth
from tap_twitter_metrics_sandbox import CREDENTIALS
from tests.faultruns import sandbox

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from requests import PreparedRequest

Reply = tuple[int, t.Any, dict[str, str]] | Exception
LOGGER = logging.getLogger("tests.client")
SECRET = "do-not-print-me"


class Scripted(BaseAdapter):
    """Answers requests from a script: (status, body, headers) or an exception to raise."""

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__()
        self.replies = replies
        self.sent: list[PreparedRequest] = []

    def send(self, request: PreparedRequest, *_args: t.Any, **_kwargs: t.Any) -> requests.Response:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body, headers = reply
        response = requests.Response()
        response.status_code = status
        response.reason = HTTPStatus(status).phrase
        response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        response.headers.update(headers)
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        """Nothing to close."""


def scripted_client(
    replies: list[Reply],
    *,
    max_wait: float = 900,
    max_tries: int = 5,
    on_unauthorized: Callable[[], bool] | None = None,
) -> tuple[XApiClient, Scripted]:
    client = XApiClient(
        api_url="https://api.x.test",
        auth=BearerAuth(SECRET),
        credential="app-only bearer_token",
        logger=LOGGER,
        stats=RunStats(),
        max_wait_seconds=max_wait,
        max_tries=max_tries,
        on_unauthorized=on_unauthorized,
    )
    adapter = Scripted(replies)
    client.session.mount("https://", adapter)
    return client, adapter


OK: Reply = (200, {"data": {"id": "1"}}, {})
PROBLEM_5XX = {"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503}


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/2/users/me", "/2/users/me"),
        ("/2/users/1500000000000000001/tweets", "/2/users/:id/tweets"),
        ("/2/users/by/username/sandbox_brand", "/2/users/by/username/:username"),
        ("/2/tweets/20", "/2/tweets/:id"),
        ("/2/tweets", "/2/tweets"),
    ],
)
def test_routes_are_named_as_in_the_api_docs(path: str, route: str) -> None:
    assert route_of(path) == route


def test_a_429_without_reset_time_waits_a_minute_or_stops_when_that_is_too_long() -> None:
    client, adapter = scripted_client([(429, {"title": "Too Many Requests"}, {})], max_wait=10)

    with pytest.raises(RateLimitWaitTooLongError, match="rate_limit_max_wait_seconds") as error:
        client.get("/2/tweets", {"ids": "1"})

    assert re.search(
        r"HTTP 429 Too Many Requests; the next window opens at .+, in 6\d s", str(error.value)
    )
    assert len(adapter.sent) == 1


def test_a_usage_cap_stops_after_one_request_and_names_the_cap() -> None:
    body = {
        "title": "UsageCapExceeded",
        "period": "Daily",
        "scope": "Account",
        "detail": "Usage cap exceeded: Daily account cap",
        "type": "https://api.x.com/2/problems/usage-capped",
    }
    client, adapter = scripted_client([(429, body, {"x-rate-limit-remaining": "10"})])

    with pytest.raises(UsageCapError, match="the X API daily account usage cap is spent"):
        client.get("/2/tweets", {"ids": "1"})
    assert len(adapter.sent) == 1


def test_server_errors_are_retried_a_bounded_number_of_times_with_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, adapter = scripted_client(
        [(502, "<html>Bad Gateway</html>", {}), (503, PROBLEM_5XX, {}), (500, {}, {})],
        max_tries=3,
    )

    with pytest.raises(ApiError) as error:
        client.get("/2/users/1/tweets", {"max_results": "100"})

    assert str(error.value).startswith(
        "GET /2/users/:id/tweets failed 3 times in a row (max_retries), the last time with "
        "HTTP 500 Internal Server Error. The X API or the network is failing: run the sync "
        "again later"
    )
    assert len(adapter.sent) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER.name]
    assert not [r for r in caplog.records if r.name == "backoff"]
    assert [re.sub(r" in \d\.\d s\.$", "", line) for line in lines] == [
        "GET /2/users/:id/tweets: HTTP 502 Bad Gateway; retry 1 of 2",
        "GET /2/users/:id/tweets: HTTP 503 Service Unavailable; retry 2 of 2",
    ]
    assert client.stats.retries == 2


def test_broken_connections_are_named_without_the_exception_text() -> None:
    text = f"HTTPSConnectionPool(host='api.x.test'): /2/tweets?ids=1&token={SECRET} reset"
    client, adapter = scripted_client(
        [requests.ConnectionError(text), requests.ReadTimeout(text)], max_tries=2
    )

    with pytest.raises(ApiError) as error:
        client.get("/2/tweets", {"ids": "1"})

    assert "the last time with no response within request_timeout (60 s)" in str(error.value)
    assert SECRET not in str(error.value)
    assert len(adapter.sent) == 2


def test_a_body_that_is_not_a_json_object_is_retried() -> None:
    client, adapter = scripted_client([(200, "[1, 2]", {}), (200, '{"data": [', {}), OK])

    assert client.get("/2/tweets", {"ids": "1"}) == {"data": {"id": "1"}}
    assert client.stats.retries == 2
    assert len(adapter.sent) == 3


@pytest.mark.parametrize("refreshed", [True, False])
def test_a_401_asks_for_a_fresh_token_once(refreshed: bool) -> None:
    calls: list[int] = []

    def refresh() -> bool:
        calls.append(1)
        return refreshed

    unauthorized: Reply = (401, {"title": "Unauthorized", "detail": "Unauthorized"}, {})
    client, adapter = scripted_client([unauthorized, unauthorized], on_unauthorized=refresh)

    with pytest.raises(CredentialsRefusedError) as error:
        client.get("/2/users/me", {})

    assert calls == [1]
    assert len(adapter.sent) == (2 if refreshed else 1)
    assert str(error.value).startswith(
        "GET /2/users/me was refused with HTTP 401 Unauthorized using the app-only "
        "bearer_token. The API said: title: Unauthorized. Check that these credentials"
    )


def test_a_403_quotes_title_detail_and_reason() -> None:
    body = {
        "title": "Forbidden",
        "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
        "reason": "unsupported-authentication",
        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
    }
    client, _adapter = scripted_client([(403, body, {})])

    with pytest.raises(CredentialsRefusedError) as error:
        client.get("/2/users/me", {})

    assert (
        "The API said: title: Forbidden; detail: Authenticating with OAuth 2.0 "
        "Application-Only is forbidden for this endpoint.; reason: unsupported-authentication."
    ) in str(error.value)


def test_threads_sharing_a_spent_window_wait_once_and_never_hit_a_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    with sandbox(rate_limit=3, window_seconds=2) as sb:
        client = XApiClient(
            api_url=sb.url,
            auth=BearerAuth(CREDENTIALS["bearer_token"]),
            credential="app-only bearer_token",
            logger=LOGGER,
            stats=RunStats(),
        )
        post_id = sb.world.timeline(sb.world.main_user_id)[0].id

        def lookup() -> None:
            client.get("/2/tweets", {"ids": post_id})

        # The first answer tells the window: 2 of 3 requests left.
        lookup()
        threads = [threading.Thread(target=lookup) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = [request.status for request in sb.requests]

    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Waiting")]
    assert statuses == [200] * 6
    assert len(waits) == client.stats.waits == 1
    assert all(
        re.fullmatch(
            r"Waiting \d\.\d s for GET /2/tweets \(rate-limit window spent\) until "
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.",
            wait,
        )
        for wait in waits
    )
