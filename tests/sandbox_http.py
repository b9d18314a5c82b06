"""Requests to the sandbox as a client of the X API sends them: bearer or OAuth 1.0a."""

from __future__ import annotations

import typing as t

import requests
from requests_oauthlib import OAuth1

from tap_twitter_metrics_sandbox import CREDENTIALS

if t.TYPE_CHECKING:
    from tap_twitter_metrics_sandbox import Sandbox

BEARER = {"Authorization": f"Bearer {CREDENTIALS['bearer_token']}"}


def oauth1(*, partner: bool = False, secret: str | None = None) -> OAuth1:
    """The sandbox's OAuth 1.0a user context: its main account, or the partner."""
    prefix = "partner_" if partner else ""
    return OAuth1(
        CREDENTIALS["consumer_key"],
        CREDENTIALS["consumer_secret"],
        CREDENTIALS[f"{prefix}access_token"],
        secret or CREDENTIALS[f"{prefix}access_token_secret"],
    )


def get(
    sb: Sandbox, path: str, auth: t.Any = None, headers: t.Any = None, **params: t.Any
) -> requests.Response:
    """GET a sandbox path; with neither `auth` nor `headers`, as the app's bearer token."""
    if auth is None and headers is None:
        headers = BEARER
    return requests.get(sb.url + path, params=params, auth=auth, headers=headers, timeout=30)
