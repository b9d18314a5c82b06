"""Which credential a run uses, and what it may see."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.auth import AuthBase
from requests_oauthlib import OAuth1
from singer_sdk.exceptions import ConfigValidationError

from tap_twitter_metrics.settings import OAUTH1_SETTINGS

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class BearerAuth(AuthBase):
    """App-only authentication: `Authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass(frozen=True)
class Credentials:
    """The authentication of a run and what it unlocks."""

    auth: AuthBase
    description: str
    user_context: bool
    on_unauthorized: Callable[[], bool] | None = None


def credentials_from(config: Mapping[str, t.Any]) -> Credentials:
    """Pick the strongest credential the settings hold: user context before app-only."""
    if all(config.get(name) for name in OAUTH1_SETTINGS):
        auth = OAuth1(
            config["consumer_key"],
            client_secret=config["consumer_secret"],
            resource_owner_key=config["access_token"],
            resource_owner_secret=config["access_token_secret"],
        )
        return Credentials(auth, "OAuth 1.0a user-context credentials", user_context=True)
    if config.get("oauth2_client_id") and (
        config.get("oauth2_refresh_token") or config.get("oauth2_token_file")
    ):
        return _oauth2_credentials(config)
    if config.get("bearer_token"):
        return Credentials(
            BearerAuth(config["bearer_token"]), "app-only bearer_token", user_context=False
        )
    msg = "No credentials are configured"
    raise ConfigValidationError(
        msg,
        errors=[
            "No credentials: set bearer_token (public metrics), the four OAuth 1.0a settings "
            "(consumer_key, consumer_secret, access_token, access_token_secret) or "
            "oauth2_client_id with oauth2_refresh_token / oauth2_token_file."
        ],
    )


def _oauth2_credentials(config: Mapping[str, t.Any]) -> Credentials:
    from tap_twitter_metrics.oauth2 import OAuth2Auth, OAuth2TokenStore, token_url_for

    if not config.get("oauth2_token_file"):
        msg = "OAuth 2.0 needs a token file"
        raise ConfigValidationError(
            msg,
            errors=[
                "oauth2_token_file: required with OAuth 2.0: every refresh rotates the refresh "
                "token, and the new one must be kept for the next run."
            ],
        )
    store = OAuth2TokenStore(
        token_url=token_url_for(config["api_url"]),
        client_id=config["oauth2_client_id"],
        client_secret=config.get("oauth2_client_secret"),
        config_refresh_token=config.get("oauth2_refresh_token"),
        token_file=Path(config["oauth2_token_file"]),
        session=requests.Session(),
        request_timeout=config.get("request_timeout", 60),
        max_tries=config.get("max_retries", 5),
    )

    def refresh_after_401() -> bool:
        store.force_refresh()
        return True

    return Credentials(
        OAuth2Auth(store),
        "OAuth 2.0 user-context token",
        user_context=True,
        on_unauthorized=refresh_after_401,
    )
