"""`tap-twitter-metrics-auth`: sign in once with OAuth 2.0 (PKCE) and write the token file."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import typing as t
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import requests
from oauthlib.oauth2 import WebApplicationClient

from tap_twitter_metrics.oauth2 import (
    SIGN_IN_COMMAND,
    OAuth2Error,
    TokenSet,
    prepare_token_file,
    read_token_file,
    request_tokens,
    token_file_lock,
    token_file_path,
    token_url_for,
    write_token_file,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

DEFAULT_API_URL = "https://api.x.com"
X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
X_API_HOSTS = frozenset({"api.x.com", "api.twitter.com"})
DEFAULT_SCOPES = "tweet.read users.read offline.access"
CLIENT_ID_ENV = "TAP_TWITTER_METRICS_OAUTH2_CLIENT_ID"
CLIENT_SECRET_ENV = "TAP_TWITTER_METRICS_OAUTH2_CLIENT_SECRET"  # noqa: S105
TOKEN_FILE_ENV = "TAP_TWITTER_METRICS_OAUTH2_TOKEN_FILE"  # noqa: S105
CALLBACK_PATH = "/callback"

_BROWSER_PAGE = (
    "<!doctype html><title>tap-twitter-metrics</title>"
    "<p>{message} You can close this tab; the terminal shows the result.</p>"
)


class _CallbackServer(HTTPServer):
    """Loopback server that keeps the query of the first request to the callback path."""

    def __init__(self, port: int, expected_state: str) -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.expected_state = expected_state
        self.callback: dict[str, str] | None = None


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        """Receive the authorization redirect."""
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.callback is not None:
            self.send_error(404)
            return
        params = dict(parse_qsl(parts.query))
        self.server.callback = params
        if not secrets.compare_digest(params.get("state", ""), self.server.expected_state):
            self._page(400, "This redirect does not belong to the running sign-in.")
        elif "code" not in params:
            self._page(400, "The sign-in was not approved.")
        else:
            self._page(200, "Sign-in received.")

    def _page(self, status: int, message: str) -> None:
        body = _BROWSER_PAGE.format(message=message).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Stay silent: the request line carries the authorization code."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=SIGN_IN_COMMAND,
        description=(
            "Sign in to X once with OAuth 2.0 (Authorization Code with PKCE) and write the "
            "token file that tap-twitter-metrics refreshes on every run (oauth2_token_file)."
        ),
    )
    parser.add_argument("--api-url", default=DEFAULT_API_URL, help="default: %(default)s")
    parser.add_argument(
        "--authorize-url",
        help=f"default: {X_AUTHORIZE_URL} for X, else API_URL/i/oauth2/authorize",
    )
    parser.add_argument("--client-id", help=f"OAuth 2.0 client id (or env {CLIENT_ID_ENV})")
    parser.add_argument(
        "--client-secret",
        help=f"confidential clients only; prefer env {CLIENT_SECRET_ENV}",
    )
    parser.add_argument("--token-file", help=f"where to write the tokens (or env {TOKEN_FILE_ENV})")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help=(
            "loopback port of the redirect http://127.0.0.1:PORT/callback; it must match a "
            "callback URL registered for the app (default 0: any free port)"
        ),
    )
    parser.add_argument("--scopes", default=DEFAULT_SCOPES, help="default: %(default)s")
    parser.add_argument("--no-browser", action="store_true", help="only print the authorize URL")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the redirect (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sign-in; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    client_id = args.client_id or os.environ.get(CLIENT_ID_ENV)
    if not client_id:
        parser.error(f"--client-id (or env {CLIENT_ID_ENV}) is required")
    token_file = _token_file(parser, args.token_file or os.environ.get(TOKEN_FILE_ENV))
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if "offline.access" not in args.scopes.split():
        parser.error("--scopes must include offline.access, or runs cannot refresh")
    try:
        prepare_token_file(token_file)
        _sign_in(
            api_url=args.api_url.rstrip("/"),
            authorize_url=args.authorize_url or _default_authorize_url(args.api_url),
            client_id=client_id,
            client_secret=args.client_secret or os.environ.get(CLIENT_SECRET_ENV) or None,
            token_file=token_file,
            port=args.port,
            scopes=args.scopes,
            open_browser=not args.no_browser,
            timeout=args.timeout,
        )
    except OAuth2Error as exc:
        _write(sys.stderr, f"Sign-in failed: {exc}")
        return 1
    except OSError as exc:
        _write(sys.stderr, f"Sign-in failed: {exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        _write(sys.stderr, "Sign-in cancelled.")
        return 130
    return 0


def _token_file(parser: argparse.ArgumentParser, option: str | None) -> Path:
    """The token file, expanded as the tap expands oauth2_token_file: the same file."""
    if not option:
        parser.error(f"--token-file (or env {TOKEN_FILE_ENV}) is required")
    try:
        return token_file_path(option)
    except OAuth2Error as exc:
        parser.error(f"--token-file: {exc}")


def _default_authorize_url(api_url: str) -> str:
    if urlsplit(api_url).hostname in X_API_HOSTS:
        return X_AUTHORIZE_URL
    return f"{api_url.rstrip('/')}/i/oauth2/authorize"


def _sign_in(
    *,
    api_url: str,
    authorize_url: str,
    client_id: str,
    client_secret: str | None,
    token_file: Path,
    port: int,
    scopes: str,
    open_browser: bool,
    timeout: float,
) -> None:
    approval = _authorize(
        authorize_url,
        client_id=client_id,
        port=port,
        scopes=scopes,
        open_browser=open_browser,
        timeout=timeout,
    )
    with requests.Session() as session:
        payload = request_tokens(
            session,
            token_url_for(api_url),
            approval.grant(),
            client_id=client_id,
            client_secret=client_secret,
        )
        tokens = _save_tokens(token_file, payload)
        account = _signed_in_account(session, api_url, tokens)
    _write(sys.stdout, _next_steps(token_file, account, confidential=client_secret is not None))


class _Approval(t.NamedTuple):
    """An approved sign-in: what the token endpoint needs to redeem the code."""

    code: str
    redirect_uri: str
    code_verifier: str

    def grant(self) -> dict[str, str]:
        """Return the form of the authorization code grant."""
        return {
            "grant_type": "authorization_code",
            "code": self.code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.code_verifier,
        }


def _authorize(
    authorize_url: str,
    *,
    client_id: str,
    port: int,
    scopes: str,
    open_browser: bool,
    timeout: float,
) -> _Approval:
    """Have the account holder approve access in a browser and catch the redirect."""
    pkce = WebApplicationClient(client_id)
    code_verifier = pkce.create_code_verifier(64)
    state = secrets.token_urlsafe(24)
    with _CallbackServer(port, state) as server:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scopes,
            "state": state,
            "code_challenge": pkce.create_code_challenge(code_verifier, "S256"),
            "code_challenge_method": "S256",
        }
        url = f"{authorize_url}?{urlencode(query, quote_via=quote)}"
        _ask_for_approval(url, redirect_uri, open_browser=open_browser)
        params = _wait_for_callback(server, timeout)
    return _Approval(_authorization_code(params, state), redirect_uri, code_verifier)


def _ask_for_approval(url: str, redirect_uri: str, *, open_browser: bool) -> None:
    _write(
        sys.stdout,
        "Open this address in a browser, sign in with the X account whose metrics the tap "
        f"should read, and approve access:\n\n  {url}\n\nWaiting for the redirect to "
        f"{redirect_uri} ...",
    )
    if open_browser:
        webbrowser.open(url)


def _authorization_code(params: Mapping[str, str], state: str) -> str:
    """Return the code of a redirect that belongs to this sign-in and approves it."""
    if not secrets.compare_digest(params.get("state", ""), state):
        msg = "the redirect carried a different state than this sign-in; start again"
        raise OAuth2Error(msg)
    code = params.get("code")
    if not code:
        msg = f"the sign-in was not approved ({params.get('error', 'no authorization code')})"
        raise OAuth2Error(msg)
    return code


def _save_tokens(token_file: Path, payload: Mapping[str, t.Any]) -> TokenSet:
    with token_file_lock(token_file):
        tokens = TokenSet.from_token_response(
            payload,
            previous=None,
            config_refresh_token_sha256=_seed_of_previous_file(token_file),
            received_at=time.time(),
        )
        write_token_file(token_file, tokens)
    return tokens


def _seed_of_previous_file(token_file: Path) -> str | None:
    """Keep recognising the config token that seeded a replaced file as already spent."""
    try:
        previous = read_token_file(token_file)
    except OAuth2Error:
        return None
    return previous.config_refresh_token_sha256 if previous else None


def _wait_for_callback(server: _CallbackServer, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while server.callback is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"no redirect arrived within {timeout:.0f} s"
            raise OAuth2Error(msg)
        server.timeout = remaining
        server.handle_request()
    return server.callback


def _signed_in_account(session: requests.Session, api_url: str, tokens: TokenSet) -> str | None:
    """Name the account the tokens belong to; signing in with the wrong one is easy."""
    try:
        response = session.get(
            f"{api_url}/2/users/me",
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=30,
        )
        data = response.json().get("data") if response.ok else None
    except (requests.RequestException, ValueError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    return f"@{data.get('username')} (id {data.get('id')})"


def _next_steps(token_file: Path, account: str | None, *, confidential: bool) -> str:
    who = f"Signed in as {account}." if account else "Signed in."
    secret = " and oauth2_client_secret" if confidential else ""
    return (
        f"{who}\nToken file written: {token_file} (mode 0600).\n\n"
        "Next steps:\n"
        f"  1. Configure the tap with oauth2_token_file: {token_file}\n"
        f"     plus oauth2_client_id{secret}; leave OAuth 1.0a settings empty.\n"
        "  2. Keep this file between runs and let only one copy live on: every run\n"
        "     replaces the single-use refresh token inside it, so an older copy stops\n"
        "     working. In CI, save it after each run (cache, artifact or secret store).\n"
        "  3. Never commit it; it grants read access to the account."
    )


def _write(stream: t.TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
