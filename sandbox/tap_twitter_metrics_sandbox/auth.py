"""Authentication for the sandbox: app bearer token, OAuth 1.0a and OAuth 2.0 (PKCE)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint
from typing_extensions import override

from tap_twitter_metrics_sandbox.world import MAIN_USER_ID, PARTNER_USER_ID

if TYPE_CHECKING:
    from collections.abc import Callable

CREDENTIALS: dict[str, str] = {
    "bearer_token": "sandbox-app-bearer-token",
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "access_token": f"{MAIN_USER_ID}-sandboxaccesstoken",
    "access_token_secret": "sandbox-access-token-secret",
    "partner_access_token": f"{PARTNER_USER_ID}-partneraccesstoken",
    "partner_access_token_secret": "partner-access-token-secret",
    "oauth2_client_id": "sandbox-client-id",
    "oauth2_client_secret": "sandbox-client-secret",
    "oauth2_refresh_token": "sandbox-refresh-token-0",
}

DEFAULT_SCOPES = ("tweet.read", "users.read", "offline.access")
# How far an OAuth 1.0a timestamp may be from the sandbox's clock (oauthlib's default).
TIMESTAMP_LIFETIME = 600

_DUMMY_CLIENT = "dummy-client-key"
_DUMMY_TOKEN = "dummy-access-token"  # noqa: S105 -- placeholder oauthlib requires
_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"  # RFC 3986 unreserved
)


@dataclass(frozen=True)
class Caller:
    """Who made a request: the kind of credential and, in user context, the user."""

    auth: str
    user_id: str | None
    identity: str

    @property
    def user_context(self) -> bool:
        """Whether the credential acts on behalf of a user."""
        return self.user_id is not None


class _Validator(RequestValidator):
    """Knows the sandbox's consumer and access tokens; accepts http and short test keys.

    Timestamps are judged by the sandbox's clock (`clock`, seconds), which a simulated day
    moves ahead of the real one: oauthlib's own check, by the real clock, is turned off.
    """

    def __init__(self, tokens: dict[str, tuple[str, str]], clock: Callable[[], float]) -> None:
        super().__init__()
        self._tokens = tokens
        self._clock = clock

    @property
    @override
    def timestamp_lifetime(self) -> int:
        return 10**10

    @property
    @override
    def enforce_ssl(self) -> bool:
        return False

    @property
    @override
    def safe_characters(self) -> set[str]:
        return set(_SAFE)

    @property
    @override
    def client_key_length(self) -> tuple[int, int]:
        return 1, 200

    @property
    @override
    def access_token_length(self) -> tuple[int, int]:
        return 1, 200

    @property
    @override
    def request_token_length(self) -> tuple[int, int]:
        return 1, 200

    @property
    @override
    def nonce_length(self) -> tuple[int, int]:
        return 1, 200

    @property
    @override
    def dummy_client(self) -> str:
        return _DUMMY_CLIENT

    @property
    @override
    def dummy_access_token(self) -> str:
        return _DUMMY_TOKEN

    @override
    def get_client_secret(self, client_key: str, request: Any) -> str:
        if client_key == CREDENTIALS["consumer_key"]:
            return CREDENTIALS["consumer_secret"]
        return "dummy-client-secret"

    @override
    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        entry = self._tokens.get(token)
        return entry[1] if entry else "dummy-access-token-secret"

    @override
    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == CREDENTIALS["consumer_key"]

    @override
    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return token in self._tokens

    @override
    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: Any,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        return abs(self._clock() - int(timestamp)) <= TIMESTAMP_LIFETIME

    @override
    def validate_realms(
        self,
        client_key: str,
        token: str,
        request: Any,
        uri: str | None = None,
        realms: list[str] | None = None,
    ) -> bool:
        return True


@dataclass
class _AccessToken:
    user_id: str
    expires_at: float
    scopes: tuple[str, ...]


@dataclass
class _RefreshToken:
    user_id: str
    scopes: tuple[str, ...]


@dataclass
class _AuthCode:
    user_id: str
    redirect_uri: str
    challenge: str
    method: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class TokenResponse:
    """What the token endpoint answers: status and JSON body."""

    status: int
    body: dict[str, Any]


def _invalid_request(description: str) -> TokenResponse:
    return TokenResponse(400, {"error": "invalid_request", "error_description": description})


def _unauthorized_client() -> TokenResponse:
    return TokenResponse(
        401,
        {"error": "unauthorized_client", "error_description": "Missing valid authorization header"},
    )


def _verifier_matches(verifier: str, code: _AuthCode) -> bool:
    """Whether a PKCE code verifier answers the challenge the code was issued for."""
    if code.method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return bool(verifier) and hmac.compare_digest(expected, code.challenge)


class Authenticator:
    """Verifies credentials on API requests and runs the OAuth 2.0 endpoints.

    `clock` is the sandbox's now in seconds, by which OAuth 1.0a timestamps are judged.
    """

    def __init__(self, *, access_ttl: int, clock: Callable[[], float] = time.time) -> None:
        self.access_ttl = access_ttl
        self._lock = threading.Lock()
        self._oauth1_tokens: dict[str, tuple[str, str]] = {
            CREDENTIALS["access_token"]: (MAIN_USER_ID, CREDENTIALS["access_token_secret"]),
            CREDENTIALS["partner_access_token"]: (
                PARTNER_USER_ID,
                CREDENTIALS["partner_access_token_secret"],
            ),
        }
        self._endpoint = ResourceEndpoint(_Validator(self._oauth1_tokens, clock))
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {
            CREDENTIALS["oauth2_refresh_token"]: _RefreshToken(MAIN_USER_ID, DEFAULT_SCOPES)
        }
        self._codes: dict[str, _AuthCode] = {}

    # --- API requests ---------------------------------------------------------------------

    def authenticate(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> Caller | None:
        """Return the caller for a request, or None when the credentials are not valid."""
        lowered = {k.lower(): v for k, v in headers.items()}
        scheme, _, value = lowered.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(value.strip())
        if scheme.lower() == "oauth":
            form = b""
            if "application/x-www-form-urlencoded" in lowered.get("content-type", ""):
                form = body
            return self._oauth1(url, method, form, headers)
        return None

    def _bearer(self, token: str) -> Caller | None:
        if hmac.compare_digest(token.encode(), CREDENTIALS["bearer_token"].encode()):
            return Caller("bearer", None, "app")
        with self._lock:
            entry = self._access.get(token)
        if entry is None or entry.expires_at <= time.time():
            return None
        return Caller("oauth2", entry.user_id, f"user:{entry.user_id}")

    def _oauth1(self, url: str, method: str, form: bytes, headers: dict[str, str]) -> Caller | None:
        valid, request = self._endpoint.validate_protected_resource_request(
            url, http_method=method, body=form.decode() or None, headers=headers
        )
        owner = self._oauth1_tokens.get(str(request.resource_owner_key)) if valid else None
        if owner is None:
            return None
        return Caller("oauth1", owner[0], f"user:{owner[0]}")

    # --- OAuth 2.0 ------------------------------------------------------------------------

    def issue_refresh_token(self, user_id: str) -> str:
        """Mint a fresh refresh token for a user (a new sign-in)."""
        token = "sandbox-refresh-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _RefreshToken(user_id, DEFAULT_SCOPES)
        return token

    def _client_error(self, form: dict[str, str], headers: dict[str, str]) -> TokenResponse | None:
        """Check the client (Basic credentials, else a public client_id); None when it is ours."""
        basic = ""
        for name, value in headers.items():
            if name.lower() == "authorization":
                basic = value
        if not basic:
            if form.get("client_id", "") != CREDENTIALS["oauth2_client_id"]:
                return _unauthorized_client()
            return None
        scheme, _, encoded = basic.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        cid, _, secret = decoded.partition(":")
        if (
            scheme.lower() != "basic"
            or cid != CREDENTIALS["oauth2_client_id"]
            or not hmac.compare_digest(secret, CREDENTIALS["oauth2_client_secret"])
        ):
            return _unauthorized_client()
        return None

    def _grant(self, user_id: str, scopes: tuple[str, ...]) -> TokenResponse:
        access = secrets.token_urlsafe(32)
        self._access[access] = _AccessToken(user_id, time.time() + self.access_ttl, scopes)
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "access_token": access,
            "scope": " ".join(scopes),
        }
        if "offline.access" in scopes:
            refresh = "sandbox-refresh-" + secrets.token_urlsafe(24)
            self._refresh[refresh] = _RefreshToken(user_id, scopes)
            body["refresh_token"] = refresh
        return TokenResponse(200, body)

    def token(self, form: dict[str, str], headers: dict[str, str]) -> TokenResponse:
        """Serve POST /2/oauth2/token (refresh_token and authorization_code grants)."""
        error = self._client_error(form, headers)
        if error is not None:
            return error
        grant = form.get("grant_type", "")
        with self._lock:
            if grant == "refresh_token":
                return self._refresh_grant(form)
            if grant == "authorization_code":
                return self._code_grant(form)
        return TokenResponse(
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": "Grant type is not supported.",
            },
        )

    def _refresh_grant(self, form: dict[str, str]) -> TokenResponse:
        # Refresh tokens rotate: each one is good for a single exchange.
        entry = self._refresh.pop(form.get("refresh_token", ""), None)
        if entry is None:
            return _invalid_request("Value passed for the token was invalid.")
        return self._grant(entry.user_id, entry.scopes)

    def _code_grant(self, form: dict[str, str]) -> TokenResponse:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at < time.time():
            return _invalid_request("Value passed for the authorization code was invalid.")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return _invalid_request(
                "Value passed for the redirect uri did not match the uri of the authorization code."
            )
        if not _verifier_matches(form.get("code_verifier", ""), code):
            return _invalid_request(
                "Value passed for the code verifier did not match the code challenge."
            )
        return self._grant(code.user_id, code.scopes)

    def revoke(self, form: dict[str, str], headers: dict[str, str]) -> TokenResponse:
        """Serve POST /2/oauth2/revoke."""
        error = self._client_error(form, headers)
        if error is not None:
            return error
        token = form.get("token", "")
        with self._lock:
            self._access.pop(token, None)
            self._refresh.pop(token, None)
        return TokenResponse(200, {"revoked": True})

    def authorize(self, params: dict[str, str], user_id: str) -> tuple[int, dict[str, Any], str]:
        """Serve GET /i/oauth2/authorize: auto-approve and redirect with a code.

        Returns (status, error body, redirect location); the location is empty on errors.
        """

        def problem(text: str) -> tuple[int, dict[str, Any], str]:
            return 400, {"error": "invalid_request", "error_description": text}, ""

        if params.get("response_type") != "code":
            return problem("response_type must be code")
        if params.get("client_id") != CREDENTIALS["oauth2_client_id"]:
            return problem("Unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://127.0.0.1", "http://localhost", "https://")):
            return problem("Invalid redirect_uri")
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method", "plain")
        if not challenge or method not in ("S256", "plain"):
            return problem("code_challenge and code_challenge_method S256 or plain required")
        scopes = tuple(s for s in params.get("scope", "").replace("+", " ").split() if s)
        if not scopes:
            return problem("scope is required")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _AuthCode(
                user_id=user_id,
                redirect_uri=redirect_uri,
                challenge=challenge,
                method=method,
                scopes=scopes,
                expires_at=time.time() + 600,
            )
        query: dict[str, str] = {"code": code}
        if "state" in params:
            query = {"state": params["state"], "code": code}
        sep = "&" if "?" in redirect_uri else "?"
        return 302, {}, redirect_uri + sep + urlencode(query)
