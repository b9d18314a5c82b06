"""OAuth 2.0 user context: the rotating token file, its lock, refusals and expiry."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import tap_twitter_metrics
from tap_twitter_metrics import oauth2
from tap_twitter_metrics.credentials import BearerAuth
from tap_twitter_metrics.oauth2 import (
    OAuth2Error,
    OAuth2TokenStore,
    TokenSet,
    read_token_file,
    sha256_hex,
    token_file_path,
    token_url_for,
    write_token_file,
)
from tap_twitter_metrics.signin import main as sign_in
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.tapruns import run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator

MAIN_USER_ID = "1500000000000000001"
TOKEN_PATH = "/2/oauth2/token"
ME_PATH = "/2/users/me"
# A run that refreshes and then calls the API once, as the tap does; the tokens come from
# the environment so that nothing secret sits on a command line.
RUN = """
import logging, os, sys, time
from pathlib import Path
import requests
from tap_twitter_metrics.credentials import BearerAuth
from tap_twitter_metrics.oauth2 import OAuth2Error, OAuth2TokenStore, token_url_for

logging.basicConfig(level=logging.DEBUG)
api_url = os.environ["API_URL"]
store = OAuth2TokenStore(
    token_url=token_url_for(api_url),
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["CLIENT_SECRET"],
    config_refresh_token=os.environ.get("CONFIG_REFRESH_TOKEN"),
    token_file=Path(os.environ["TOKEN_FILE"]),
    session=requests.Session(),
)
auth = BearerAuth(store.access_token)
while time.time() < float(os.environ.get("START_AT", "0")):
    time.sleep(0.001)
try:
    for cycle in range(int(os.environ.get("CYCLES", "1"))):
        if cycle:
            store.force_refresh()
        response = requests.get(api_url + "/2/users/me", auth=auth, timeout=30)
        if response.status_code == 401:
            store.force_refresh()
            response = requests.get(api_url + "/2/users/me", auth=auth, timeout=30)
        response.raise_for_status()
        print(response.json()["data"]["username"])
except OAuth2Error as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


@dataclass(frozen=True)
class App:
    """The sandbox's OAuth 2.0 app and the refresh token its first sign-in gave."""

    api_url: str
    client_id: str
    client_secret: str
    initial_refresh_token: str


@contextmanager
def sandbox_app(access_ttl: int = 7200) -> Iterator[tuple[Sandbox, App]]:
    options = SandboxOptions(posts=20, partner_posts=5, oauth2_access_ttl=access_ttl)
    with Sandbox(options) as sandbox:
        config = sandbox.config_for("oauth2")
        yield (
            sandbox,
            App(
                api_url=sandbox.url,
                client_id=config["oauth2_client_id"],
                client_secret=config["oauth2_client_secret"],
                initial_refresh_token=config["oauth2_refresh_token"],
            ),
        )


@pytest.fixture
def sandbox_and_app() -> Iterator[tuple[Sandbox, App]]:
    with sandbox_app() as pair:
        yield pair


def tap_config(sandbox: Sandbox, token_file: Path) -> dict[str, t.Any]:
    return {
        **sandbox.config_for("oauth2"),
        "oauth2_token_file": str(token_file),
        "user_ids": [MAIN_USER_ID],
    }


def make_store(app: App, token_file: Path, config_refresh_token: str | None) -> OAuth2TokenStore:
    return OAuth2TokenStore(
        token_url=token_url_for(app.api_url),
        client_id=app.client_id,
        client_secret=app.client_secret,
        config_refresh_token=config_refresh_token,
        token_file=token_file,
        session=requests.Session(),
    )


def token_statuses(sandbox: Sandbox) -> list[int]:
    return [r.status for r in sandbox.requests if r.method == "POST" and r.path == TOKEN_PATH]


def me_status(app: App, access_token: str) -> int:
    response = requests.get(
        app.api_url + ME_PATH, headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )
    return response.status_code


def start_run(
    app: App, token_file: Path, config_refresh_token: str | None, **env: str
) -> subprocess.Popen[str]:
    package_root = str(Path(tap_twitter_metrics.__file__).absolute().parent.parent)
    run_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        "API_URL": app.api_url,
        "CLIENT_ID": app.client_id,
        "CLIENT_SECRET": app.client_secret,
        "TOKEN_FILE": str(token_file),
        **env,
    }
    if config_refresh_token is not None:
        run_env["CONFIG_REFRESH_TOKEN"] = config_refresh_token
    return subprocess.Popen(
        [sys.executable, "-c", RUN],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(run: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = run.communicate(timeout=60)
    return run.returncode, stdout, stderr


def assert_no_secret(output: str, secrets: set[str]) -> None:
    leaked = sorted(secret for secret in secrets if secret in output)
    assert leaked == []


def test_three_tap_runs_each_refresh_once_on_the_rotated_token(tmp_path: Path) -> None:
    # Access tokens living less than the refresh margin leave every new run a stale one,
    # as X's two-hour tokens do for a daily schedule.
    with sandbox_app(access_ttl=30) as (sandbox, app):
        token_file = tmp_path / "tokens.json"
        config = tap_config(sandbox, token_file)
        secrets = {app.client_secret, app.initial_refresh_token}
        refresh_tokens = [app.initial_refresh_token]
        for number in range(3):
            sandbox.clear_requests()
            run = run_tap(config, tmp_path / f"run{number}", streams=["users"])
            stored = read_token_file(token_file)
            assert stored is not None
            assert stored.access_token is not None
            secrets |= {stored.refresh_token, stored.access_token}
            refresh_tokens.append(stored.refresh_token)

            assert run.returncode == 0, run.stderr
            assert [record["id"] for record in run.records("users")] == [MAIN_USER_ID]
            assert token_statuses(sandbox) == [200]
            assert {(r.status, r.auth) for r in sandbox.requests if r.path != TOKEN_PATH} == {
                (200, "oauth2")
            }
            assert stored.config_refresh_token_sha256 == sha256_hex(app.initial_refresh_token)
            assert_no_secret(run.output, secrets)
        assert len(set(refresh_tokens)) == 4


def test_two_concurrent_tap_runs_on_one_token_file_refresh_once(tmp_path: Path) -> None:
    with sandbox_app() as (sandbox, app):
        token_file = tmp_path / "tokens.json"
        config = tap_config(sandbox, token_file)
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(
                pool.map(
                    lambda number: run_tap(config, tmp_path / f"run{number}", streams=["users"]),
                    range(2),
                )
            )
        stored = read_token_file(token_file)
        assert stored is not None

        assert [run.returncode for run in runs] == [0, 0]
        assert [len(run.records("users")) for run in runs] == [1, 1]
        # The run that waited for the lock found the other's fresh token in the file.
        assert token_statuses(sandbox) == [200]
        assert_no_secret(
            runs[0].output + runs[1].output,
            {app.client_secret, app.initial_refresh_token, stored.refresh_token},
        )


def test_tap_run_with_a_spent_refresh_token_says_so_without_printing_it(tmp_path: Path) -> None:
    with sandbox_app() as (sandbox, app):
        make_store(app, tmp_path / "first.json", app.initial_refresh_token).access_token()
        spent_config = tap_config(sandbox, tmp_path / "second.json")

        run = run_tap(spent_config, tmp_path / "run", streams=["users"])

        assert run.returncode != 0
        assert run.records("users") == []
        assert "The OAuth 2.0 refresh token was refused (invalid_request;" in run.stderr
        assert "Run `tap-twitter-metrics-auth --api-url " in run.stderr
        assert_no_secret(run.output, {app.client_secret, app.initial_refresh_token})


def test_two_concurrent_processes_refreshing_in_turns_never_reuse_a_refresh_token(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    start_at = str(time.time() + 2)
    runs = [
        start_run(app, token_file, app.initial_refresh_token, START_AT=start_at, CYCLES="3")
        for _ in range(2)
    ]
    results = [finish(run) for run in runs]
    stored = read_token_file(token_file)
    assert stored is not None

    assert [(code, out) for code, out, _ in results] == [(0, "sandbox_brand\n" * 3)] * 2
    statuses = token_statuses(sandbox)
    assert statuses == [200] * len(statuses)
    assert 1 <= len(statuses) <= 6
    assert me_status(app, make_store(app, token_file, None).access_token()) == 200
    assert_no_secret(
        "".join(out + err for _, out, err in results),
        {app.client_secret, app.initial_refresh_token, stored.refresh_token},
    )


def test_spent_refresh_token_ends_the_run_with_a_clear_message(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    make_store(app, tmp_path / "first.json", app.initial_refresh_token).access_token()
    sandbox.clear_requests()

    returncode, stdout, stderr = finish(
        start_run(app, tmp_path / "second.json", app.initial_refresh_token)
    )

    assert returncode == 3
    assert stdout == ""
    assert "The OAuth 2.0 refresh token was refused (invalid_request;" in stderr
    assert "Run `tap-twitter-metrics-auth --api-url " in stderr
    assert token_statuses(sandbox) == [400]
    assert not (tmp_path / "second.json").exists()
    stored = read_token_file(tmp_path / "first.json")
    assert stored is not None
    assert stored.access_token is not None
    assert_no_secret(
        stdout + stderr,
        {app.client_secret, app.initial_refresh_token, stored.refresh_token, stored.access_token},
    )


def test_config_token_that_seeded_the_file_is_not_tried_again(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    make_store(app, token_file, app.initial_refresh_token).access_token()
    stale = read_token_file(token_file)
    assert stale is not None
    make_store(app, token_file, app.initial_refresh_token).force_refresh()
    write_token_file(token_file, expired(stale))
    sandbox.clear_requests()

    with pytest.raises(OAuth2Error, match="refresh token was refused") as refused:
        make_store(app, token_file, app.initial_refresh_token).access_token()

    assert token_statuses(sandbox) == [400]
    assert f"tried the token file {token_file}):" in str(refused.value)
    assert stale.refresh_token not in str(refused.value)


def test_newer_config_token_is_used_when_the_file_token_is_refused(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    restored_file = tmp_path / "restored.json"
    current_file = tmp_path / "current.json"
    make_store(app, current_file, app.initial_refresh_token).access_token()
    old = read_token_file(current_file)
    assert old is not None
    make_store(app, current_file, None).force_refresh()
    newer = read_token_file(current_file)
    assert newer is not None
    # An old copy of the file comes back (a stale CI cache) while the config holds the
    # newest token (the user signed in again and updated the secret).
    write_token_file(restored_file, expired(old))
    sandbox.clear_requests()

    access_token = make_store(app, restored_file, newer.refresh_token).access_token()

    assert token_statuses(sandbox) == [400, 200]
    assert me_status(app, access_token) == 200
    stored = read_token_file(restored_file)
    assert stored is not None
    assert stored.access_token == access_token
    assert stored.refresh_token not in {old.refresh_token, newer.refresh_token}
    assert stored.config_refresh_token_sha256 == sha256_hex(newer.refresh_token)


def test_token_file_wins_over_the_config_token(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    make_store(app, token_file, app.initial_refresh_token).access_token()
    seeded = read_token_file(token_file)
    assert seeded is not None
    write_token_file(token_file, expired(seeded))
    sandbox.clear_requests()

    make_store(app, token_file, "a-token-the-sandbox-never-issued").access_token()

    assert token_statuses(sandbox) == [200]


def test_a_run_finding_a_fresh_access_token_in_the_file_does_not_refresh(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    first = make_store(app, token_file, app.initial_refresh_token).access_token()

    second = make_store(app, token_file, app.initial_refresh_token).access_token()

    assert second == first
    assert token_statuses(sandbox) == [200]


def test_refresh_writes_the_token_file_0600_by_atomic_replace(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    _, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    store = make_store(app, token_file, app.initial_refresh_token)
    store.access_token()
    # A copy restored by a CI cache may come back with looser permissions.
    token_file.chmod(0o644)
    inode_before = token_file.stat().st_ino

    access_token = store.force_refresh()

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.stat().st_ino != inode_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]
    stored = json.loads(token_file.read_text(encoding="utf-8"))
    assert sorted(stored) == [
        "access_token",
        "config_refresh_token_sha256",
        "expires_at",
        "refresh_token",
        "scope",
    ]
    assert stored["access_token"] == access_token
    assert stored["expires_at"] > time.time() + 7000
    assert stored["scope"] == "tweet.read users.read offline.access"


def test_failed_replace_leaves_the_previous_token_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "tokens.json"
    before = TokenSet("refresh-1", "access-1", 2_000_000_000, None, None)
    write_token_file(token_file, before)

    def refuse(*_: object) -> t.NoReturn:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_token_file(token_file, TokenSet("refresh-2", "access-2", 2_000_000_000, None, None))

    assert read_token_file(token_file) == before
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]


def test_refresh_that_cannot_be_saved_returns_no_access_token(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, app = sandbox_and_app

    def disk_full(*_: object) -> t.NoReturn:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(oauth2, "write_token_file", disk_full)
    with pytest.raises(OAuth2Error, match="could not write the token file") as failure:
        make_store(app, tmp_path / "tokens.json", app.initial_refresh_token).access_token()

    assert "Run `tap-twitter-metrics-auth" in str(failure.value)


def test_access_token_expiring_mid_run_is_refreshed(tmp_path: Path) -> None:
    with sandbox_app(access_ttl=1) as (sandbox, app):
        store = make_store(app, tmp_path / "tokens.json", app.initial_refresh_token)
        first = store.access_token()
        assert me_status(app, first) == 200

        time.sleep(1.3)
        assert me_status(app, first) == 401
        second = store.force_refresh()
        assert me_status(app, second) == 200

        time.sleep(1.3)
        third = store.access_token()
        assert me_status(app, third) == 200

        assert len({first, second, third}) == 3
        assert token_statuses(sandbox) == [200, 200, 200]


def test_auth_sends_the_current_access_token(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    store = make_store(app, tmp_path / "tokens.json", app.initial_refresh_token)

    response = requests.get(app.api_url + ME_PATH, auth=BearerAuth(store.access_token), timeout=30)
    again = requests.get(app.api_url + ME_PATH, auth=BearerAuth(store.access_token), timeout=30)

    assert (response.status_code, again.status_code) == (200, 200)
    assert response.json()["data"]["id"] == MAIN_USER_ID
    assert token_statuses(sandbox) == [200]


def test_token_endpoint_outage_is_retried(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    sandbox.add_fault(route=TOKEN_PATH, kind="503", nth=1, times=1)

    access_token = make_store(
        app, tmp_path / "tokens.json", app.initial_refresh_token
    ).access_token()

    assert token_statuses(sandbox) == [503, 200]
    assert me_status(app, access_token) == 200


def test_token_endpoint_outage_gives_up_without_spending_the_token(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    sandbox.add_fault(route=TOKEN_PATH, kind="500", nth=1, times=2)
    store = OAuth2TokenStore(
        token_url=token_url_for(app.api_url),
        client_id=app.client_id,
        client_secret=app.client_secret,
        config_refresh_token=app.initial_refresh_token,
        token_file=tmp_path / "tokens.json",
        session=requests.Session(),
        max_tries=2,
    )

    with pytest.raises(OAuth2Error, match="failed 2 times"):
        store.access_token()
    access_token = store.access_token()

    assert token_statuses(sandbox) == [500, 500, 200]
    assert me_status(app, access_token) == 200


def test_missing_refresh_token_says_how_to_sign_in(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app

    with pytest.raises(OAuth2Error, match=r"No OAuth 2\.0 refresh token") as failure:
        make_store(app, tmp_path / "tokens.json", None).access_token()

    assert "Run `tap-twitter-metrics-auth --api-url" in str(failure.value)
    assert token_statuses(sandbox) == []


def test_corrupt_token_file_is_reported_not_overwritten(
    sandbox_and_app: tuple[Sandbox, App], tmp_path: Path
) -> None:
    sandbox, app = sandbox_and_app
    token_file = tmp_path / "tokens.json"
    token_file.write_text("{not json", encoding="utf-8")

    with pytest.raises(OAuth2Error, match=r"tokens\.json is unusable \(invalid JSON\)"):
        make_store(app, token_file, app.initial_refresh_token).access_token()

    assert token_file.read_text(encoding="utf-8") == "{not json"
    assert token_statuses(sandbox) == []


def expired(tokens: TokenSet) -> TokenSet:
    return TokenSet(
        refresh_token=tokens.refresh_token,
        access_token=tokens.access_token,
        expires_at=int(time.time()) - 60,
        scope=tokens.scope,
        config_refresh_token_sha256=tokens.config_refresh_token_sha256,
    )


UNSET = "TAP_TWITTER_METRICS_TEST_UNSET"


def log_lines(stderr: str, level: str) -> list[str]:
    return [line.split(" | ", 3)[-1] for line in stderr.splitlines() if f"| {level} " in line]


def test_the_token_file_setting_expands_home_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOKENS", str(tmp_path / "tokens"))
    monkeypatch.delenv(UNSET, raising=False)

    assert token_file_path("~/.config/x.json") == tmp_path / "home" / ".config" / "x.json"
    assert token_file_path("$HOME/x.json") == tmp_path / "home" / "x.json"
    assert token_file_path("${TOKENS}/x.json") == tmp_path / "tokens" / "x.json"
    assert token_file_path("x.json") == Path.cwd() / "x.json"
    with pytest.raises(OAuth2Error) as unset:
        token_file_path(f"${{{UNSET}}}/x.json")
    assert str(unset.value) == (
        f"'${{{UNSET}}}/x.json' names ${UNSET}, which is not set in the environment"
    )
    monkeypatch.setenv("EMPTY_DIR", "")
    with pytest.raises(OAuth2Error) as empty:
        token_file_path("$EMPTY_DIR/x.json")
    assert (
        str(empty.value)
        == "'$EMPTY_DIR/x.json' names $EMPTY_DIR, which is empty in the environment"
    )


def test_a_tap_run_keeps_the_tokens_under_the_home_folder_the_readme_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    with sandbox_app() as (sandbox, _):
        config = {
            **tap_config(sandbox, tmp_path),
            "oauth2_token_file": "~/.config/tap-twitter-metrics/token.json",
        }
        run = run_tap(config, tmp_path / "run", streams=["users"])

    token_file = home / ".config" / "tap-twitter-metrics" / "token.json"
    assert run.returncode == 0, run.stderr
    assert read_token_file(token_file) is not None
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert not (tmp_path / "~").exists()


def test_a_tap_run_tightens_a_token_file_others_can_read(tmp_path: Path) -> None:
    with sandbox_app() as (sandbox, app):
        token_file = tmp_path / "tokens.json"
        make_store(app, token_file, app.initial_refresh_token).access_token()
        token_file.chmod(0o644)
        run = run_tap(tap_config(sandbox, token_file), tmp_path / "run", streams=["users"])

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == [
        f"The OAuth 2.0 token file {token_file} had mode 0644, wider than 0600: set it to 0600."
    ]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_token_folder_that_cannot_be_made_is_one_line_before_any_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")
    token_file = tmp_path / "a-file" / "tokens" / "token.json"
    with sandbox_app() as (sandbox, _):
        run = run_tap(tap_config(sandbox, token_file), tmp_path / "run", streams=["users"])
        requests_sent = sandbox.requests

    assert run.returncode == 1
    # The last line, as every error that stops a sync: the SDK names the stream before it.
    assert log_lines(run.stderr, "ERROR")[-1] == (
        f"Cannot create the folder {token_file.parent} of the OAuth 2.0 token file "
        f"{token_file}: Not a directory"
    )
    assert "Traceback" not in run.stderr
    assert requests_sent == []


def test_an_unset_variable_in_the_token_file_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    with sandbox_app() as (sandbox, _):
        config = tap_config(sandbox, tmp_path)
        run = run_tap({**config, "oauth2_token_file": f"${UNSET}/t.json"}, tmp_path, streams=None)
        requests_sent = sandbox.requests

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR") == [
        f"oauth2_token_file: '${UNSET}/t.json' names ${UNSET}, which is not set in the environment",
        "Config validation failed",
    ]
    assert requests_sent == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("ignored", [False, True], ids=["committable", "ignored"])
def test_a_token_file_git_could_commit_is_warned_of(
    ignored: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = (tmp_path / "project").resolve()
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    if ignored:
        (repo / ".gitignore").write_text("/.secrets/\n")
    monkeypatch.chdir(repo)
    with sandbox_app() as (sandbox, _):
        config = {**tap_config(sandbox, tmp_path), "oauth2_token_file": ".secrets/x.json"}
        run = run_tap(config, tmp_path / "run", streams=["users"])

    token_file = repo / ".secrets" / "x.json"
    assert run.returncode == 0, run.stderr
    assert read_token_file(token_file) is not None
    assert log_lines(run.stderr, "WARNING") == (
        []
        if ignored
        else [
            f"The OAuth 2.0 token file {token_file} is inside the git work tree {repo} and "
            "not ignored by git: it holds live tokens and could be committed. Add it to "
            ".gitignore or keep it outside the work tree."
        ]
    )


def test_sign_in_expands_the_token_file_as_the_tap_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(UNSET, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        sign_in(["--client-id", "client", "--token-file", f"${UNSET}/t.json"])
    assert exit_info.value.code == 2
    assert (
        f"--token-file: '${UNSET}/t.json' names ${UNSET}, which is not set in the environment"
        in capsys.readouterr().err
    )

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("TOKENS", str(tmp_path / "a-file"))
    code = sign_in(["--client-id", "client", "--token-file", "$TOKENS/t.json", "--no-browser"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"Sign-in failed: Cannot create the folder {tmp_path / 'a-file'} of the OAuth 2.0 "
        f"token file {tmp_path / 'a-file' / 't.json'}: File exists\n"
    )
