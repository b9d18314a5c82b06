"""HTTP layer of the sandbox: routing, auth, rate limits, faults, request log."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from typing_extensions import override

from tap_twitter_metrics_sandbox.api import (
    CLIENT_FORBIDDEN,
    Api,
    InvalidRequestError,
    Result,
    invalid_request_body,
    respell_problems,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_twitter_metrics_sandbox.auth import Authenticator, Caller
    from tap_twitter_metrics_sandbox.faults import Fault, FaultTable, RateLimiter
    from tap_twitter_metrics_sandbox.world import World

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"
_SURROGATE = re.compile("[\ud800-\udfff]")

# Route templates, tried in this order: a `:name` segment matches any one path segment.
_TEMPLATES = (
    "/2/users/me",
    "/2/users/by/username/:username",
    "/2/users/by",
    "/2/users/:id/tweets",
    "/2/users/:id",
    "/2/users",
    "/2/tweets/analytics",
    "/2/media/analytics",
    "/2/usage/tweets",
    "/2/tweets/:id",
    "/2/tweets",
    "/2/oauth2/token",
    "/2/oauth2/revoke",
    "/i/oauth2/authorize",
)
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (template, re.compile("^" + re.sub(r":(\w+)", r"(?P<\1>[^/]+)", template) + "$"))
    for template in _TEMPLATES
)
_NO_RATE_LIMIT = frozenset({"/2/oauth2/token", "/2/oauth2/revoke", "/i/oauth2/authorize"})

PAGE_NOT_FOUND = {
    "title": "Not Found Error",
    "type": "about:blank",
    "status": 404,
    "detail": "Sorry, that page does not exist",
}
METHOD_NOT_ALLOWED = {"title": "Method Not Allowed", "type": "about:blank", "status": 405}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
TOO_MANY = {
    "title": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
    "detail": "Too Many Requests",
}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}


def _duplicate_problems(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One problem per query parameter given more than once (oauth_ parameters aside)."""
    names = [k for k, _ in pairs if not k.startswith("oauth_")]
    return [
        {
            "parameters": {n: [v for k, v in pairs if k == n]},
            "message": f"Duplicate parameters are not allowed: the `{n}` query parameter",
        }
        for n in sorted({n for n in names if names.count(n) > 1})
    ]


def route_of(path: str) -> tuple[str, dict[str, str]] | None:
    """Match a path against the served routes: (template, path parameters, percent-decoded)."""
    for template, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            return template, {name: unquote(value) for name, value in match.groupdict().items()}
    return None


@dataclass
class LoggedRequest:
    """One request as the sandbox saw it."""

    method: str
    path: str
    route: str
    params: dict[str, str]
    status: int
    auth: str | None
    user_id: str | None
    at: float = 0.0
    fault: str | None = None


@dataclass
class Reply:
    """What the handler writes back."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    reset: bool = False


def json_reply(
    status: int, body: Any, headers: dict[str, str] | None = None, *, raw_utf8: bool = False
) -> Reply:
    """Serialize a JSON reply: ASCII with escapes, or (`raw_utf8`) UTF-8 as X sends it."""
    if not raw_utf8:
        return Reply(status, json.dumps(body, separators=(",", ":")).encode(), dict(headers or {}))
    return Reply(status, _utf8_json(body), dict(headers or {}))


def _utf8_json(body: Any) -> bytes:
    """JSON in UTF-8, but a lone surrogate (no UTF-8 for it) as its escape, as X sends it."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Surrogates only occur inside JSON strings, where an escape is what they mean.
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


@dataclass
class Incoming:
    """A parsed HTTP request."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    host: str


class SandboxApp:
    """Everything behind the socket: dispatch of one request to its reply.

    `spelling` "2.167" serves the problems of API routes as spec 2.167 names them, non-200
    ones as application/problem+json; `raw_utf8` serves their JSON as UTF-8, not escaped.
    """

    def __init__(
        self,
        *,
        world: World,
        api: Api,
        auth: Authenticator,
        limiter: RateLimiter,
        faults: FaultTable,
        latency_ms: int,
        admin: Callable[[str, str, dict[str, str], bytes], Reply | None],
        spelling: str = "2.159",
        raw_utf8: bool = False,
    ) -> None:
        self.spelling = spelling
        self.raw_utf8 = raw_utf8
        self.world = world
        self.api = api
        self.auth = auth
        self.limiter = limiter
        self.faults = faults
        self.latency_ms = latency_ms
        self.admin = admin
        self.lock = threading.RLock()
        self.log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        """Append to the request log."""
        with self._log_lock:
            self.log.append(entry)

    def requests(self) -> list[LoggedRequest]:
        """A snapshot of the request log."""
        with self._log_lock:
            return list(self.log)

    def clear(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self.log.clear()

    def handle(self, req: Incoming) -> Reply:
        """Answer one request."""
        split = urlsplit(req.target)
        path = split.path
        pairs = parse_qsl(split.query, keep_blank_values=True)
        if path.startswith("/_sandbox/"):
            reply = self.admin(req.method, path, dict(pairs), req.body)
            return reply or json_reply(404, {"title": "Not Found", "status": 404})
        matched = route_of(path)
        params = {k: v for k, v in pairs if not k.startswith("oauth_")}
        entry = LoggedRequest(
            req.method, path, matched[0] if matched else "", params, 0, None, None
        )
        entry.at = time.time()
        reply = self._handle(req, pairs, params, matched, entry)
        entry.status = reply.status if not reply.reset else 0
        self.record(entry)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return reply

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
        """A JSON reply on an API route, in the spelling and encoding served."""
        if self.spelling != "2.167":
            return json_reply(status, body, headers, raw_utf8=self.raw_utf8)
        reply = json_reply(status, respell_problems(body), headers, raw_utf8=self.raw_utf8)
        if status != 200:
            reply.content_type = PROBLEM_TYPE
        return reply

    def _handle(
        self,
        req: Incoming,
        pairs: list[tuple[str, str]],
        params: dict[str, str],
        matched: tuple[str, dict[str, str]] | None,
        entry: LoggedRequest,
    ) -> Reply:
        if matched is None:
            return self._reply(404, PAGE_NOT_FOUND)
        route, path_params = matched
        expected = "POST" if route.startswith("/2/oauth2/") else "GET"
        if req.method != expected:
            return self._reply(405, METHOD_NOT_ALLOWED)
        fault = self.faults.next_for(route)
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind != "timeout":
                return self._fault_reply(fault, route)
            time.sleep(fault.delay)
        if route in _NO_RATE_LIMIT:
            return self._oauth(route, req, pairs)
        return self._api(req, route, path_params, pairs=pairs, params=params, entry=entry)

    def _api(
        self,
        req: Incoming,
        route: str,
        path_params: dict[str, str],
        *,
        pairs: list[tuple[str, str]],
        params: dict[str, str],
        entry: LoggedRequest,
    ) -> Reply:
        """Authenticate, rate-limit and answer a request on an API route."""
        url = f"http://{req.host}{req.target}"
        caller = self.auth.authenticate(req.method, url, req.headers, req.body)
        if caller is None:
            _ok, headers = self.limiter.hit(route, "anonymous", False, consume=False)
            return self._reply(401, UNAUTHORIZED, headers)
        entry.auth = caller.auth
        entry.user_id = caller.user_id
        allowed, headers = self.limiter.hit(route, caller.identity, caller.user_context)
        if not allowed:
            return self._reply(429, TOO_MANY, headers)
        problems = _duplicate_problems(pairs)
        if problems:
            return self._reply(400, invalid_request_body(problems), headers)
        try:
            with self.lock:
                result = self._dispatch(route, path_params, params, caller)
                if 200 <= result.status < 300:
                    served_at = self.world.now_ms()
                    self.api.meter.count(route, path_params, caller, result.body, served_at)
        except InvalidRequestError as exc:
            return self._reply(400, invalid_request_body(exc.problems), headers)
        return self._reply(result.status, result.body, headers)

    def _dispatch(  # noqa: PLR0911 -- one per route
        self, route: str, path_params: dict[str, str], params: dict[str, str], caller: Caller
    ) -> Result:
        api = self.api
        if route == "/2/users/:id/tweets":
            return api.timeline(path_params["id"], params, caller)
        if route == "/2/tweets":
            return api.tweets_lookup(params, caller)
        if route == "/2/tweets/:id":
            return api.tweet_single(path_params["id"], params, caller)
        if route == "/2/tweets/analytics":
            return api.tweet_analytics(params, caller)
        if route == "/2/media/analytics":
            return api.media_analytics(params, caller)
        if route == "/2/usage/tweets":
            return api.usage_tweets(params, caller)
        if route == "/2/users/me":
            return api.users_me(params, caller)
        if route == "/2/users/by/username/:username":
            return api.user_by_username(path_params["username"], params)
        if route == "/2/users/by":
            return api.users_by_usernames(params)
        if route == "/2/users":
            return api.users_lookup(params)
        return api.user_single(path_params["id"], params)

    def _fault_reply(self, fault: Fault, route: str) -> Reply:  # noqa: PLR0911 -- one per kind
        _ok, headers = self.limiter.hit(route, "fault", False, consume=False)
        kind = fault.kind
        if kind == "reset":
            return Reply(0, reset=True)
        if kind in ("500", "503"):
            title = "Internal Server Error" if kind == "500" else "Service Unavailable"
            return self._reply(
                int(kind),
                {"title": title, "type": "about:blank", "status": int(kind), "detail": title},
                headers,
            )
        if kind == "truncated":
            full = json.dumps({"data": [{"id": "1", "text": "truncated " * 40}]}).encode()
            return Reply(200, full[: len(full) // 2], headers)
        if kind == "invalid_json":
            return Reply(200, b"<html><body>Upstream error</body></html>", headers)
        if kind == "usage_cap":
            return self._reply(429, USAGE_CAPPED, headers)
        if kind == "rate_limit":
            headers = dict(headers)
            headers["x-rate-limit-remaining"] = "0"
            headers["x-rate-limit-reset"] = str(int(time.time()) + fault.retry_after)
            return self._reply(429, TOO_MANY, headers)
        if kind == "401":
            return self._reply(401, UNAUTHORIZED, headers)
        return self._reply(403, CLIENT_FORBIDDEN, headers)

    def _oauth(self, route: str, req: Incoming, pairs: list[tuple[str, str]]) -> Reply:
        if route == "/i/oauth2/authorize":
            params = dict(pairs)
            hint = params.get("login_hint", "")
            user = self.world.user_by_username(hint) if hint else None
            status, body, location = self.auth.authorize(
                params, user.id if user else self.world.main_user_id
            )
            if status == 302:
                return Reply(302, b"", {"Location": location}, content_type="text/plain")
            return json_reply(status, body)
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        if route == "/2/oauth2/revoke":
            answer = self.auth.revoke(form, req.headers)
        else:
            answer = self.auth.token(form, req.headers)
        return json_reply(answer.status, answer.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and delayed
    # ACKs hold every response back by tens of milliseconds.
    disable_nagle_algorithm = True

    @override
    def version_string(self) -> str:
        return "sandbox"

    timeout = 60
    server: SandboxHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k: v for k, v in self.headers.items()}  # noqa: C416 -- Message to plain dict
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        reply = self.server.app.handle(Incoming(self.command, self.path, headers, body, host))
        if reply.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    @override
    def log_message(self, format: str, *args: Any) -> None:
        return


class SandboxHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its open connections so it can close them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    @override
    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then serve it in a thread."""
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    @override
    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it."""
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    @override
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients that drop connections are expected in fault tests."""

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then exit)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def logged_as_dict(entry: LoggedRequest) -> dict[str, Any]:
    """JSON-ready form of a log entry."""
    return asdict(entry)
