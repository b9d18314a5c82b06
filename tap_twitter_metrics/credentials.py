"""The credential model: which credential set a run uses, what it may see, how it signs.

Config validation, the HTTP client and OAuth 2.0 all read this module: the rules for a
complete credential set are written here once.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from enum import Enum

import requests
from requests.auth import AuthBase
from requests_oauthlib import OAuth1
from singer_sdk.exceptions import ConfigValidationError

from tap_twitter_metrics.oauth2 import (
    OAuth2Error,
    OAuth2TokenStore,
    prepare_token_file,
    token_file_path,
    token_url_for,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

OAUTH1_SETTINGS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
NO_CREDENTIALS = (
    "No credentials: set bearer_token (public metrics), the four OAuth 1.0a settings "
    "(consumer_key, consumer_secret, access_token, access_token_secret) or "
    "oauth2_client_id with oauth2_refresh_token / oauth2_token_file."
)


class CredentialKind(Enum):
    """The credential sets, strongest first: user context is preferred to app-only."""

    OAUTH1 = "OAuth 1.0a user-context credentials"
    OAUTH2 = "OAuth 2.0 user-context token"
    APP_ONLY = "app-only bearer_token"

    @property
    def user_context(self) -> bool:
        """Whether it reads as the signed-in account: private metrics, /2/users/me."""
        return self is not CredentialKind.APP_ONLY


def credential_kind(config: Mapping[str, t.Any]) -> CredentialKind | None:
    """The strongest complete credential set the settings hold."""
    if all(config.get(name) for name in OAUTH1_SETTINGS):
        return CredentialKind.OAUTH1
    if config.get("oauth2_client_id") and (
        config.get("oauth2_refresh_token") or config.get("oauth2_token_file")
    ):
        return CredentialKind.OAUTH2
    if config.get("bearer_token"):
        return CredentialKind.APP_ONLY
    return None


def credential_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Incomplete credential sets, or none at all; never a credential's value."""
    errors = []
    oauth1_given = [name for name in OAUTH1_SETTINGS if config.get(name)]
    if oauth1_given and len(oauth1_given) < len(OAUTH1_SETTINGS):
        missing = ", ".join(name for name in OAUTH1_SETTINGS if name not in oauth1_given)
        errors.append(f"OAuth 1.0a needs all four settings; missing: {missing}")
    # With complete OAuth 1.0a credentials the OAuth 2.0 settings are not used.
    if credential_kind(config) is not CredentialKind.OAUTH1:
        errors.extend(_oauth2_errors(config))
        errors.extend(_token_file_errors(config))
    if not errors and credential_kind(config) is None:
        errors.append(NO_CREDENTIALS)
    return errors


def _oauth2_errors(config: Mapping[str, t.Any]) -> list[str]:
    client_id = config.get("oauth2_client_id")
    tokens = config.get("oauth2_refresh_token") or config.get("oauth2_token_file")
    if not client_id and (config.get("oauth2_refresh_token") or config.get("oauth2_client_secret")):
        return [
            "oauth2_client_id: missing; OAuth 2.0 needs the client id of the app with "
            "oauth2_refresh_token (or an oauth2_token_file written by tap-twitter-metrics-auth)"
        ]
    if client_id and not tokens:
        return [
            "oauth2_refresh_token: missing; OAuth 2.0 needs it (or an oauth2_token_file "
            "written by tap-twitter-metrics-auth) with oauth2_client_id"
        ]
    return []


def _token_file_errors(config: Mapping[str, t.Any]) -> list[str]:
    setting = config.get("oauth2_token_file")
    if not isinstance(setting, str) or not setting:
        return []
    try:
        token_file_path(setting)
    except OAuth2Error as exc:
        return [f"oauth2_token_file: {exc}"]
    return []


class BearerAuth(AuthBase):
    """`Authorization: Bearer <token>`: an app-only token, or a current OAuth 2.0 token."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request."""
        token = self.token if isinstance(self.token, str) else self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        return request


@dataclass(frozen=True)
class Credentials:
    """The authentication of a run and what it unlocks."""

    auth: AuthBase
    kind: CredentialKind
    on_unauthorized: Callable[[], bool] | None = None
    account_id: str | None = None
    """The signed-in account's id, when the credential tells it without a request."""

    @property
    def user_context(self) -> bool:
        """Whether private metrics and the signed-in account can be read."""
        return self.kind.user_context

    @property
    def description(self) -> str:
        """How error messages name the credential."""
        return self.kind.value


def credentials_from(config: Mapping[str, t.Any]) -> Credentials:
    """The strongest credential the settings hold, ready to sign requests."""
    kind = credential_kind(config)
    if kind is CredentialKind.OAUTH1:
        auth = OAuth1(
            config["consumer_key"],
            client_secret=config["consumer_secret"],
            resource_owner_key=config["access_token"],
            resource_owner_secret=config["access_token_secret"],
        )
        # X's OAuth 1.0a access tokens start with the account's id: "<id>-<secret part>".
        owner, dash, _rest = str(config["access_token"]).partition("-")
        return Credentials(auth, kind, account_id=owner if dash and owner.isdigit() else None)
    if kind is CredentialKind.OAUTH2:
        return _oauth2_credentials(config)
    if kind is CredentialKind.APP_ONLY:
        return Credentials(BearerAuth(config["bearer_token"]), kind)
    msg = "No credentials are configured"
    raise ConfigValidationError(msg, errors=[NO_CREDENTIALS])


def app_credentials(config: Mapping[str, t.Any]) -> Credentials | None:
    """The app-only bearer_token, whatever else is set: some endpoints take nothing else."""
    token = config.get("bearer_token")
    return Credentials(BearerAuth(token), CredentialKind.APP_ONLY) if token else None


def _oauth2_credentials(config: Mapping[str, t.Any]) -> Credentials:
    if not config.get("oauth2_token_file"):
        msg = "OAuth 2.0 needs a token file"
        raise ConfigValidationError(
            msg,
            errors=[
                "oauth2_token_file: required with OAuth 2.0: every refresh rotates the refresh "
                "token, and the new one must be kept for the next run."
            ],
        )
    token_file = token_file_path(config["oauth2_token_file"])
    prepare_token_file(token_file)
    store = OAuth2TokenStore(
        token_url=token_url_for(config["api_url"]),
        client_id=config["oauth2_client_id"],
        client_secret=config.get("oauth2_client_secret"),
        config_refresh_token=config.get("oauth2_refresh_token"),
        token_file=token_file,
        session=requests.Session(),
        request_timeout=config.get("request_timeout", 60),
        max_tries=config.get("max_retries", 5),
    )

    def refresh_after_401() -> bool:
        store.force_refresh()
        return True

    return Credentials(
        BearerAuth(store.access_token), CredentialKind.OAUTH2, on_unauthorized=refresh_after_401
    )
