"""The sandbox judges OAuth 1.0a timestamps by its own clock, which an advance moves ahead.

A scheduled run simulated days ahead (tests/test_meltano_days.py) signs its requests at its
moved clock: the sandbox, whose world was advanced as far, must take them, and refuse
requests signed at a time its clock has left behind, as X refuses stale timestamps.
"""

from __future__ import annotations

import time
import typing as t

import pytest
import requests
from requests_oauthlib import OAuth1

from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions

if t.TYPE_CHECKING:
    from collections.abc import Iterator

DAY_S = 86_400
LIFETIME_S = 600


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=5, posts=20, partner_posts=5)) as sb:
        yield sb


def status_signed_at(sb: Sandbox, seconds: float) -> int:
    """The status of GET /2/users/me signed with the OAuth 1.0a timestamp `seconds`."""
    auth = OAuth1(
        CREDENTIALS["consumer_key"],
        CREDENTIALS["consumer_secret"],
        CREDENTIALS["access_token"],
        CREDENTIALS["access_token_secret"],
        timestamp=str(int(seconds)),
    )
    return requests.get(f"{sb.url}/2/users/me", auth=auth, timeout=30).status_code


def test_timestamps_are_judged_by_the_real_clock_until_an_advance_moves_it(
    sandbox: Sandbox,
) -> None:
    now = time.time()
    assert status_signed_at(sandbox, now) == 200
    assert status_signed_at(sandbox, now - LIFETIME_S + 60) == 200
    assert status_signed_at(sandbox, now - LIFETIME_S - 60) == 401
    assert status_signed_at(sandbox, now + DAY_S) == 401


def test_after_an_advance_a_day_ahead_only_that_days_timestamps_are_fresh(
    sandbox: Sandbox,
) -> None:
    ahead = time.time() + DAY_S
    sandbox.world.advance(new_posts=0, metric_growth=False, now_ms=int(ahead * 1000))
    assert status_signed_at(sandbox, ahead) == 200
    assert status_signed_at(sandbox, ahead + LIFETIME_S - 60) == 200
    assert status_signed_at(sandbox, ahead + LIFETIME_S + 60) == 401
    assert status_signed_at(sandbox, time.time()) == 401
