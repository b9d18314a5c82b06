"""Handles are resolved 100 a request, in the order given, each account once."""

from __future__ import annotations

import typing as t

from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.tapruns import run_tap

if t.TYPE_CHECKING:
    from pathlib import Path


def test_150_handles_take_two_requests_and_the_unknown_ones_are_named(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(seed=7)) as sb:
        # X's handles are at most 15 characters; the sandbox has a longer one for its own tests.
        known = [user.username for user in sb.world.users.values() if len(user.username) <= 15]
        unknown = [f"nobody_{number:03d}" for number in range(150 - len(known))]
        # Handles are case-insensitive: a second spelling of one is not asked for again.
        usernames = [*known, known[0].upper(), *unknown]
        run = run_tap(
            sb.config_for("bearer") | {"usernames": usernames}, tmp_path, streams=["users"]
        )

        by = [request for request in sb.requests if request.route == "/2/users/by"]
        assert [len(request.params["usernames"].split(",")) for request in by] == [100, 50]
        assert [request.route for request in sb.requests] == ["/2/users/by", "/2/users/by"]
    assert [user["username"] for user in run.records("users")] == known
    assert run.returncode == 1
    warned = [line for line in run.stderr.splitlines() if "its timeline is skipped" in line]
    assert len(warned) == len(unknown)
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "| Configured accounts X did not show: "
            + "; ".join(f"@{name} not found" for name in unknown[:10])
            + f" and {len(unknown) - 10} more. The other accounts were synced; correct or remove "
            "these in user_ids or usernames."
        )
    )
