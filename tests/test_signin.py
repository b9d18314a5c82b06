"""The `tap-twitter-metrics-auth` sign-in command, end to end against the sandbox."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import tap_twitter_metrics
from tap_twitter_metrics.credentials import BearerAuth
from tap_twitter_metrics.oauth2 import (
    OAuth2TokenStore,
    read_token_file,
    sha256_hex,
    token_url_for,
)
from tap_twitter_metrics.signin import main
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions

if t.TYPE_CHECKING:
    from collections.abc import Iterator

MAIN_USER_ID = "1500000000000000001"
TOKEN_PATH = "/2/oauth2/token"
AUTHORIZE_PATH = "/i/oauth2/authorize"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(posts=20, partner_posts=5)) as running:
        yield running


class SignIn:
    """A running sign-in command and the authorize URL it printed."""

    def __init__(self, sandbox: Sandbox, token_file: Path, *extra: str) -> None:
        config = sandbox.config_for("oauth2")
        self.client_id: str = config["oauth2_client_id"]
        self.client_secret: str = config["oauth2_client_secret"]
        package_root = str(Path(tap_twitter_metrics.__file__).absolute().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [package_root, os.environ.get("PYTHONPATH")])
            ),
            "TAP_TWITTER_METRICS_OAUTH2_CLIENT_SECRET": self.client_secret,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tap_twitter_metrics.signin",
                "--api-url",
                sandbox.url,
                "--client-id",
                self.client_id,
                "--token-file",
                str(token_file),
                "--no-browser",
                "--timeout",
                "30",
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.printed = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.printed += line
            if line.strip().startswith("http://"):
                self.authorize_url = line.strip()
                break
        else:
            pytest.fail(f"no authorize URL printed: {self.printed!r}")
        query = parse_qs(urlsplit(self.authorize_url).query)
        self.redirect_uri = query["redirect_uri"][0]
        self.state = query["state"][0]

    def finish(self) -> tuple[int, str, str]:
        stdout, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, self.printed + stdout, stderr


def test_sign_in_writes_a_token_file_that_works(sandbox: Sandbox, tmp_path: Path) -> None:
    token_file = tmp_path / "ci" / "tokens.json"
    sign_in = SignIn(sandbox, token_file)

    browser = requests.get(sign_in.authorize_url, timeout=30)
    returncode, stdout, stderr = sign_in.finish()

    assert urlsplit(sign_in.authorize_url).path == AUTHORIZE_PATH
    assert browser.status_code == 200
    assert browser.history[0].status_code == 302
    code = parse_qs(urlsplit(browser.history[0].headers["Location"]).query)["code"][0]
    assert sign_in.redirect_uri.startswith("http://127.0.0.1:")
    assert sign_in.redirect_uri.endswith("/callback")
    assert (returncode, stderr) == (0, "")
    assert "Signed in as @sandbox_brand (id 1500000000000000001)." in stdout
    assert f"Token file written: {token_file} (mode 0600)." in stdout
    assert f"oauth2_token_file: {token_file}" in stdout
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    authorize = [r for r in sandbox.requests if r.path == AUTHORIZE_PATH]
    assert [
        (r.status, r.params["code_challenge_method"], r.params["scope"]) for r in authorize
    ] == [(302, "S256", "tweet.read users.read offline.access")]
    assert [r.status for r in sandbox.requests if r.path == TOKEN_PATH] == [200]

    stored = read_token_file(token_file)
    assert stored is not None
    assert stored.access_token is not None
    assert stored.config_refresh_token_sha256 is None
    for secret in (stored.refresh_token, stored.access_token, sign_in.client_secret, code):
        assert secret not in stdout + stderr

    store = OAuth2TokenStore(
        token_url=token_url_for(sandbox.url),
        client_id=sign_in.client_id,
        client_secret=sign_in.client_secret,
        config_refresh_token=None,
        token_file=token_file,
        session=requests.Session(),
    )
    me = requests.get(f"{sandbox.url}/2/users/me", auth=BearerAuth(store.access_token), timeout=30)
    assert me.status_code == 200
    assert me.json()["data"]["id"] == MAIN_USER_ID
    store.force_refresh()
    again = requests.get(
        f"{sandbox.url}/2/users/me", auth=BearerAuth(store.access_token), timeout=30
    )
    assert again.status_code == 200
    assert [r.status for r in sandbox.requests if r.path == TOKEN_PATH] == [200, 200]


def test_signing_in_again_keeps_the_spent_config_token_recognised(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token_file = tmp_path / "tokens.json"
    config = sandbox.config_for("oauth2")
    seeded = OAuth2TokenStore(
        token_url=token_url_for(sandbox.url),
        client_id=config["oauth2_client_id"],
        client_secret=config["oauth2_client_secret"],
        config_refresh_token=config["oauth2_refresh_token"],
        token_file=token_file,
        session=requests.Session(),
    )
    seeded.access_token()
    sign_in = SignIn(sandbox, token_file)

    requests.get(sign_in.authorize_url, timeout=30)
    returncode, _, _ = sign_in.finish()

    stored = read_token_file(token_file)
    assert stored is not None
    assert returncode == 0
    assert stored.config_refresh_token_sha256 == sha256_hex(config["oauth2_refresh_token"])


def test_redirect_with_a_foreign_state_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.json"
    sign_in = SignIn(sandbox, token_file)

    forged = requests.get(
        sign_in.redirect_uri, params={"code": "forged-code", "state": "forged-state"}, timeout=30
    )
    returncode, _, stderr = sign_in.finish()

    assert forged.status_code == 400
    assert returncode == 1
    assert "the redirect carried a different state than this sign-in" in stderr
    assert not token_file.exists()
    assert [r for r in sandbox.requests if r.path == TOKEN_PATH] == []


def test_declined_sign_in_writes_no_token_file(sandbox: Sandbox, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.json"
    sign_in = SignIn(sandbox, token_file)

    declined = requests.get(
        sign_in.redirect_uri, params={"error": "access_denied", "state": sign_in.state}, timeout=30
    )
    returncode, _, stderr = sign_in.finish()

    assert declined.status_code == 400
    assert returncode == 1
    assert "Sign-in failed: the sign-in was not approved (access_denied)" in stderr
    assert not token_file.exists()


def test_other_paths_on_the_loopback_port_are_ignored(sandbox: Sandbox, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens.json"
    sign_in = SignIn(sandbox, token_file)
    origin = sign_in.redirect_uri.removesuffix("/callback")

    favicon = requests.get(f"{origin}/favicon.ico", timeout=30)
    browser = requests.get(sign_in.authorize_url, timeout=30)
    returncode, _, _ = sign_in.finish()

    assert (favicon.status_code, browser.status_code, returncode) == (404, 200, 0)
    assert token_file.exists()


def test_scopes_without_offline_access_are_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--client-id",
                "an-app",
                "--token-file",
                str(tmp_path / "tokens.json"),
                "--scopes",
                "tweet.read users.read",
            ]
        )

    assert exit_info.value.code == 2
    assert "--scopes must include offline.access" in capsys.readouterr().err


def test_client_id_is_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP_TWITTER_METRICS_OAUTH2_CLIENT_ID", raising=False)

    with pytest.raises(SystemExit) as exit_info:
        main(["--token-file", str(tmp_path / "tokens.json")])

    assert exit_info.value.code == 2
    assert "--client-id (or env TAP_TWITTER_METRICS_OAUTH2_CLIENT_ID) is required" in (
        capsys.readouterr().err
    )
