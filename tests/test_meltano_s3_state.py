"""Scheduled Meltano runs that keep their state in S3, as the example workflow does.

examples/github-actions/scheduled-sync.yml runs `meltano run tap-twitter-metrics
target-postgres` from a fresh checkout every day, with `meltano[s3]` and its state in
`MELTANO_STATE_BACKEND_URI=s3://bucket/prefix`. Here that path runs for real: an S3 emulator
(moto's server) on 127.0.0.1, Meltano's own S3 state backend talking to it over HTTP, the
sandbox as the X API and a real PostgreSQL. Each run starts from a fresh copy of the
project; the second starts from the state the first left in the bucket. Nothing can reach
real AWS: the keys are dummies, the endpoint is given, and every HTTP request to a host
other than 127.0.0.1 is sent to a closed local port.

Two variants, two runs each:
- OAuth 1.0a, as in the workflow: the keys and region in the workflow's AWS variables, the
  emulator named by AWS_ENDPOINT_URL_S3; the account posts between two runs on one day.
- OAuth 2.0: the keys and the endpoint in Meltano's own state backend settings, and the token
  file carried between runs the way the README tells for CI: restored from a secret store
  (AWS Secrets Manager, emulated too) before the run, written back after it even when it
  fails, seeded on the first run from the refresh-token secret. The second run is the next
  day's (its clock moved a day ahead), when the two-hour access token has expired.
"""

from __future__ import annotations

import json
import sqlite3
import time
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import requests
import yaml

from tap_twitter_metrics.oauth2 import sha256_hex
from tap_twitter_metrics_sandbox import Sandbox, SandboxOptions
from tests.expected import timeline_posts
from tests.meltano_runs import (
    DAY,
    REPO,
    STATE_ID,
    Run,
    ScheduledPipeline,
    api_time,
    parse_api_time,
    runner_environment,
)
from tests.s3_backend import DUMMY_KEYS, S3Emulator, SecretStoreTokenFile, isolated, s3_emulator

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.pg import PostgresServer

PREFIX = "meltano/state"
STATE_KEY = f"{PREFIX}/{STATE_ID}/state.json"
LOOKBACK = timedelta(days=7)
NEW_POSTS = 3
TOKEN_PATH = "/2/oauth2/token"
TOKEN_SECRET = "x-metrics/oauth2-token-file"
TOKENS = ("refresh_token", "access_token")
WORKFLOW = REPO / "examples" / "github-actions" / "scheduled-sync.yml"


class S3ScheduledPipeline(ScheduledPipeline):
    """The example workflow's job: X credentials and AWS settings from secrets, state in S3."""

    def __init__(
        self, *, emulator: S3Emulator, bucket: str, aws: dict[str, str], **kwargs: t.Any
    ) -> None:
        super().__init__(**kwargs)
        self.emulator = emulator
        self.bucket = bucket
        self.aws = aws

    def credentials(self) -> dict[str, str]:
        """The X settings the job's secrets provide (OAuth 1.0a, as in the workflow)."""
        return settings_environment(self.sandbox.config_for("oauth1"))

    def environment(self) -> dict[str, str]:
        """The job's environment; no AWS setting of the caller's reaches it."""
        inherited = {
            name: value
            for name, value in runner_environment().items()
            if not name.startswith("AWS_")
        }
        return (
            inherited
            | self.credentials()
            | self.settings
            | isolated(self.aws)
            | {
                "TARGET_POSTGRES_SQLALCHEMY_URL": self.database.sqlalchemy_url,
                "MELTANO_STATE_BACKEND_URI": f"s3://{self.bucket}/{PREFIX}",
            }
        )

    def state_object(self) -> dict[str, t.Any]:
        """The state Meltano keeps in the bucket: the one object under the prefix."""
        objects = self.emulator.objects(self.bucket)
        assert list(objects) == [STATE_KEY], f"the bucket holds {sorted(objects)}"
        document: dict[str, t.Any] = json.loads(objects[STATE_KEY])
        return document


class OAuth2S3ScheduledPipeline(S3ScheduledPipeline):
    """The same job with OAuth 2.0: the token file restored before each run, saved after."""

    def __init__(self, *, token_home: SecretStoreTokenFile, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.token_home = token_home
        self.restored: list[bool] = []
        """Whether the store held a token file before each run."""
        self.saved: list[dict[str, t.Any]] = []
        """The token file the store held after each run."""

    def token_file(self, number: int) -> Path:
        """The token file of run `number`: in the runner's own temporary folder."""
        return self.workdir / f"runner-{number}-temp" / "x-oauth2.json"

    def credentials(self) -> dict[str, str]:
        """Client id and secret, the seeding refresh token, and this runner's token file."""
        config = self.sandbox.config_for("oauth2") | {
            "oauth2_token_file": str(self.token_file(self.runs))
        }
        return settings_environment(config)

    def run(self, *, days_ahead: int = 0) -> Run:
        """Restore the token file, run once, save the token file even if the run failed."""
        token_file = self.token_file(self.runs + 1)
        self.restored.append(self.token_home.restore(token_file))
        try:
            return super().run(days_ahead=days_ahead)
        finally:
            if self.token_home.save(token_file):
                self.saved.append(self.token_home.stored())


def settings_environment(config: dict[str, t.Any]) -> dict[str, str]:
    """Tap settings as the environment variables Meltano reads."""
    return {
        f"TAP_TWITTER_METRICS_{name.upper()}": value
        if isinstance(value, str)
        else json.dumps(value)
        for name, value in config.items()
    }


def small_account(seed: int) -> SandboxOptions:
    """A sandbox account small enough for quick runs, with posts inside the look-back."""
    return SandboxOptions(seed=seed, posts=60, partner_posts=5)


@dataclass
class TwoRuns:
    """Two scheduled runs and the state the bucket held after each."""

    first: Run
    second: Run
    state_after_first: dict[str, t.Any]
    state_after_second: dict[str, t.Any]
    newest_after_first: datetime
    newest_after_second: datetime
    new_post_ids: set[str]


def newest_post(sandbox: Sandbox) -> datetime:
    """Creation time of the main account's newest post the timeline serves."""
    world = sandbox.world
    return max(post.created_at for post in timeline_posts(world, world.main_user_id))


def bookmark(state: dict[str, t.Any], user_id: str) -> datetime:
    """The tweets bookmark of one account in a Meltano state object."""
    partitions = state["completed"]["singer_state"]["bookmarks"]["tweets"]["partitions"]
    (value,) = [
        partition["replication_key_value"]
        for partition in partitions
        if partition["context"].get("author_id") == user_id
    ]
    return parse_api_time(value)


def advance_a_day(sandbox: Sandbox, new_posts: int) -> set[str]:
    """Move the world's clock a day ahead with new posts; their ids."""
    now_ms = int((time.time() + DAY.total_seconds()) * 1000)
    with sandbox.app.lock:
        created = sandbox.world.advance(new_posts=new_posts, metric_growth=True, now_ms=now_ms)
    return {post.id for post in created}


def run_twice(pipeline: S3ScheduledPipeline, *, next_day: bool) -> TwoRuns:
    """Run the job, let the account post more, run it again (the next day if `next_day`)."""
    sandbox = pipeline.sandbox
    first = pipeline.run()
    state_after_first = pipeline.state_object()
    newest_after_first = newest_post(sandbox)
    if next_day:
        new_post_ids = advance_a_day(sandbox, NEW_POSTS)
    else:
        new_post_ids = {post.id for post in sandbox.advance(new_posts=NEW_POSTS)}
    second = pipeline.run(days_ahead=1 if next_day else 0)
    return TwoRuns(
        first=first,
        second=second,
        state_after_first=state_after_first,
        state_after_second=pipeline.state_object(),
        newest_after_first=newest_after_first,
        newest_after_second=newest_post(sandbox),
        new_post_ids=new_post_ids,
    )


# Fixtures


@pytest.fixture(scope="module")
def emulator() -> Iterator[S3Emulator]:
    """The S3 and Secrets Manager emulator on 127.0.0.1."""
    with s3_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def oauth1_pipeline(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PostgresServer,
    emulator: S3Emulator,
) -> Iterator[S3ScheduledPipeline]:
    """The workflow's job, signed in with OAuth 1.0a, not run yet."""
    with (
        Sandbox(small_account(seed=21)) as sandbox,
        pg_server.database("x_metrics_s3_oauth1") as database,
    ):
        yield S3ScheduledPipeline(
            emulator=emulator,
            bucket=emulator.create_bucket("x-metrics-oauth1"),
            aws=emulator.aws_variables(),
            installed=installed_project,
            workdir=tmp_path_factory.mktemp("s3-oauth1"),
            sandbox=sandbox,
            database=database,
        )


@pytest.fixture(scope="module")
def oauth1_runs(oauth1_pipeline: S3ScheduledPipeline) -> TwoRuns:
    """Two runs on the same day, the account having posted in between."""
    return run_twice(oauth1_pipeline, next_day=False)


@pytest.fixture(scope="module")
def oauth2_pipeline(
    installed_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PostgresServer,
    emulator: S3Emulator,
) -> Iterator[OAuth2S3ScheduledPipeline]:
    """The job signed in with OAuth 2.0, its token file kept in the secret store."""
    with (
        Sandbox(small_account(seed=22)) as sandbox,
        pg_server.database("x_metrics_s3_oauth2") as database,
    ):
        yield OAuth2S3ScheduledPipeline(
            token_home=SecretStoreTokenFile(emulator, TOKEN_SECRET),
            emulator=emulator,
            bucket=emulator.create_bucket("x-metrics-oauth2"),
            aws=emulator.meltano_settings(),
            installed=installed_project,
            workdir=tmp_path_factory.mktemp("s3-oauth2"),
            sandbox=sandbox,
            database=database,
        )


@pytest.fixture(scope="module")
def oauth2_runs(oauth2_pipeline: OAuth2S3ScheduledPipeline) -> TwoRuns:
    """Two daily runs: the second the next day, when the access token has expired."""
    return run_twice(oauth2_pipeline, next_day=True)


@pytest.fixture(scope="module", params=["oauth1", "oauth2"])
def job(request: pytest.FixtureRequest) -> tuple[S3ScheduledPipeline, TwoRuns]:
    """Each variant of the job with its two runs."""
    pipeline: S3ScheduledPipeline = request.getfixturevalue(f"{request.param}_pipeline")
    runs: TwoRuns = request.getfixturevalue(f"{request.param}_runs")
    return pipeline, runs


def workflow_variables() -> set[str]:
    """Names of the environment variables the example workflow sets, at any level."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    levels = [workflow, *workflow["jobs"].values()]
    levels += [step for job in workflow["jobs"].values() for step in job["steps"]]
    return {name for level in levels for name in level.get("env", {})}


def meltano_log(run: Run) -> str:
    """What `meltano run` printed."""
    return (run.project / "meltano-run.log").read_text()


def refresh_status(sandbox: Sandbox, refresh_token: str) -> int:
    """Status of the sandbox's token endpoint for a refresh with `refresh_token` (spends it)."""
    config = sandbox.config_for("oauth2")
    response = requests.post(
        sandbox.url + TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(config["oauth2_client_id"], config["oauth2_client_secret"]),
        timeout=30,
    )
    return response.status_code


def token_requests(run: Run) -> list[int]:
    """Statuses of the run's requests to the OAuth 2.0 token endpoint."""
    return [r.status for r in run.requests if r.method == "POST" and r.path == TOKEN_PATH]


# The state in the bucket (both variants)


def test_first_run_leaves_the_state_in_the_bucket_under_the_state_id(
    job: tuple[S3ScheduledPipeline, TwoRuns],
) -> None:
    pipeline, runs = job
    world = pipeline.sandbox.world
    assert bookmark(runs.state_after_first, world.main_user_id) == runs.newest_after_first
    assert runs.state_after_first["partial"] == {}
    log = meltano_log(runs.first)
    assert f"No state found for {STATE_ID}." in log
    assert "Writing state to AWS S3" in log


def test_second_run_reads_only_the_lookback_window_of_the_bucket_state(
    job: tuple[S3ScheduledPipeline, TwoRuns],
) -> None:
    pipeline, runs = job
    start = bookmark(runs.state_after_first, pipeline.sandbox.world.main_user_id) - LOOKBACK
    timeline = runs.second.timeline_requests()
    assert timeline
    assert [request.params.get("start_time") for request in timeline] == [api_time(start)]
    assert all("end_time" not in request.params for request in timeline)
    assert "Reading state from AWS S3" in meltano_log(runs.second)


def test_second_run_moves_the_state_in_the_bucket(
    job: tuple[S3ScheduledPipeline, TwoRuns],
) -> None:
    pipeline, runs = job
    world = pipeline.sandbox.world
    assert runs.newest_after_second > runs.newest_after_first
    assert bookmark(runs.state_after_second, world.main_user_id) == runs.newest_after_second
    posts = {post.id for post in timeline_posts(world, world.main_user_id)}
    assert runs.new_post_ids <= posts
    assert set(runs.second.tables["tweets"]) == posts
    assert set(runs.first.tables["tweets"]) == posts - runs.new_post_ids


def test_runners_keep_no_state_of_their_own(job: tuple[S3ScheduledPipeline, TwoRuns]) -> None:
    pipeline, runs = job
    assert runs.first.project != runs.second.project
    for run in (runs.first, runs.second):
        assert not run.had_system_db, "a runner started with a system database"
        with sqlite3.connect(run.project / ".meltano" / "meltano.db") as system_db:
            (count,) = system_db.execute("SELECT count(*) FROM state").fetchone()
        assert count == 0, "state was written to the runner's system database"
    assert list(pipeline.state_dir.iterdir()) == []


def test_no_secret_reaches_the_state_or_the_logs(
    job: tuple[S3ScheduledPipeline, TwoRuns],
) -> None:
    pipeline, runs = job
    secrets = set(pipeline.sandbox.config_for("oauth1").values())
    secrets |= set(pipeline.sandbox.config_for("oauth2").values())
    secrets -= {pipeline.sandbox.url, pipeline.sandbox.config_for("oauth2")["oauth2_client_id"]}
    secrets |= set(DUMMY_KEYS.values())
    if isinstance(pipeline, OAuth2S3ScheduledPipeline):
        secrets |= {saved[name] for saved in pipeline.saved for name in TOKENS}
    texts = [json.dumps(runs.state_after_first), json.dumps(runs.state_after_second)]
    texts += [meltano_log(runs.first), meltano_log(runs.second)]
    assert [secret for secret in secrets for text in texts if secret in text] == []


def test_the_oauth1_job_sets_the_workflows_aws_variables_and_the_endpoint(
    oauth1_pipeline: S3ScheduledPipeline,
) -> None:
    workflow = {name for name in workflow_variables() if name.startswith("AWS_")}
    assert set(oauth1_pipeline.aws) == workflow | {"AWS_ENDPOINT_URL_S3"}
    assert oauth1_pipeline.environment()["AWS_ENDPOINT_URL_S3"] == oauth1_pipeline.emulator.endpoint


# The OAuth 2.0 token file, carried between runs by the secret store


@pytest.mark.usefixtures("oauth2_runs")
def test_token_file_is_restored_before_every_run_but_the_first(
    oauth2_pipeline: OAuth2S3ScheduledPipeline,
) -> None:
    assert oauth2_pipeline.restored == [False, True]
    assert len(oauth2_pipeline.saved) == 2


def test_each_run_refreshes_once_and_the_store_keeps_the_rotated_token(
    oauth2_pipeline: OAuth2S3ScheduledPipeline, oauth2_runs: TwoRuns
) -> None:
    seed = oauth2_pipeline.sandbox.config_for("oauth2")["oauth2_refresh_token"]
    first, second = oauth2_pipeline.saved
    assert len({seed, first["refresh_token"], second["refresh_token"]}) == 3
    # Both runs kept the record of the seed the chain started from.
    assert {first["config_refresh_token_sha256"], second["config_refresh_token_sha256"]} == {
        sha256_hex(seed)
    }
    for run in (oauth2_runs.first, oauth2_runs.second):
        assert token_requests(run) == [200]
        api = [r for r in run.requests if r.path != TOKEN_PATH]
        assert {(r.status, r.auth) for r in api} == {(200, "oauth2")}
        log = meltano_log(run)
        assert log.count("Refreshed the OAuth 2.0 access token; saved the new refresh token") == 1
        assert "was refused" not in log


def test_second_run_found_the_access_token_expired(
    oauth2_pipeline: OAuth2S3ScheduledPipeline, oauth2_runs: TwoRuns
) -> None:
    first, _ = oauth2_pipeline.saved
    assert oauth2_runs.first.finished.timestamp() < first["expires_at"]
    assert first["expires_at"] < oauth2_runs.second.started.timestamp()


@pytest.mark.usefixtures("oauth2_runs")
def test_spent_refresh_tokens_are_refused_and_the_stored_one_is_not(
    oauth2_pipeline: OAuth2S3ScheduledPipeline,
) -> None:
    sandbox = oauth2_pipeline.sandbox
    seed = sandbox.config_for("oauth2")["oauth2_refresh_token"]
    first, second = oauth2_pipeline.saved
    # The seed was spent by the first run, the token it saved by the second.
    assert refresh_status(sandbox, seed) == 400
    assert refresh_status(sandbox, first["refresh_token"]) == 400
    assert refresh_status(sandbox, second["refresh_token"]) == 200
