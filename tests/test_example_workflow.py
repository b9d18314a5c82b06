"""The example GitHub Actions workflow is one a user can copy as it is.

It must be valid YAML, run on a cron schedule, take the X credentials and the database URL
from repository secrets, keep Meltano's state in a cloud state backend, and run only
commands that exist: meltano (in the version meltano.yml admits) with this project's plugins
and environments.
"""

from __future__ import annotations

import re
import shlex
import typing as t
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "github-actions" / "scheduled-sync.yml"
SECRET = re.compile(r"\$\{\{\s*secrets\.[A-Z][A-Z0-9_]*\s*\}\}")
CLOUD_STATE_EXTRAS = {"s3", "gcs", "azure"}
KNOWN_ACTIONS = {"actions/checkout", "actions/setup-python", "actions/cache"}
CREDENTIAL_SETTINGS = {
    "bearer_token",
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "oauth2_client_id",
    "oauth2_client_secret",
    "oauth2_refresh_token",
}
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def load_yaml(path: Path) -> dict[t.Any, t.Any]:
    """A YAML mapping from a file."""
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


@pytest.fixture(scope="module")
def workflow() -> dict[str, t.Any]:
    return load_yaml(WORKFLOW)


@pytest.fixture(scope="module")
def project() -> dict[str, t.Any]:
    return load_yaml(REPO / "meltano.yml")


def triggers(workflow: dict[t.Any, t.Any]) -> dict[str, t.Any]:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as true)."""
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict)
    return value


def jobs_steps(workflow: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Every step of every job, in order."""
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def job_env(workflow: dict[str, t.Any]) -> dict[str, str]:
    """Environment variables set at workflow, job and step level."""
    env = dict(workflow.get("env", {}))
    for job in workflow["jobs"].values():
        env |= job.get("env", {})
        for step in job["steps"]:
            env |= step.get("env", {})
    return {name: str(value) for name, value in env.items()}


def commands(workflow: dict[str, t.Any]) -> list[list[str]]:
    """Each shell command the workflow runs, as argv."""
    return [
        shlex.split(line)
        for step in jobs_steps(workflow)
        for line in str(step.get("run", "")).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def plugin_names(project: dict[str, t.Any], kind: str) -> set[str]:
    """Names of the project's plugins of one kind (extractors, loaders)."""
    return {plugin["name"] for plugin in project["plugins"].get(kind, [])}


def setting_names(project: dict[str, t.Any], plugin: str) -> set[str]:
    """Settings the project declares for a plugin."""
    (definition,) = [
        entry
        for entries in project["plugins"].values()
        for entry in entries
        if entry["name"] == plugin
    ]
    return {setting["name"] for setting in definition.get("settings", [])}


def cron_field_is_valid(field: str, low: int, high: int) -> bool:
    """One cron field: *, n, a-b, lists and /steps, inside its range."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
    return True


def test_workflow_is_valid_yaml_with_a_job(workflow: dict[str, t.Any]) -> None:
    assert workflow["name"]
    assert workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"]
        assert job["steps"]


def test_workflow_runs_on_a_cron_schedule(workflow: dict[str, t.Any]) -> None:
    schedules = triggers(workflow)["schedule"]
    assert schedules
    for entry in schedules:
        fields = entry["cron"].split()
        assert len(fields) == 5, entry["cron"]
        for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
            assert cron_field_is_valid(field, low, high), entry["cron"]


def test_workflow_never_runs_twice_at_once(workflow: dict[str, t.Any]) -> None:
    concurrency = workflow.get("concurrency") or {}
    assert concurrency.get("group")
    assert concurrency.get("cancel-in-progress") is False


def test_credentials_and_database_url_come_from_secrets(workflow: dict[str, t.Any]) -> None:
    env = job_env(workflow)
    credentials = {
        name: value
        for name, value in env.items()
        if name.removeprefix("TAP_TWITTER_METRICS_").lower() in CREDENTIAL_SETTINGS
    }
    assert credentials, "the workflow sets no X credentials"
    not_secret = [name for name, value in credentials.items() if not SECRET.fullmatch(value)]
    assert not_secret == []
    assert SECRET.fullmatch(env["TARGET_POSTGRES_SQLALCHEMY_URL"])


def test_x_credentials_form_a_complete_credential(workflow: dict[str, t.Any]) -> None:
    names = {
        name.removeprefix("TAP_TWITTER_METRICS_").lower()
        for name in job_env(workflow)
        if name.startswith("TAP_TWITTER_METRICS_")
    }
    oauth1 = {"consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    assert oauth1 <= names or "bearer_token" in names or "oauth2_refresh_token" in names


def test_state_is_kept_in_a_cloud_state_backend(workflow: dict[str, t.Any]) -> None:
    env = job_env(workflow)
    assert SECRET.fullmatch(env["MELTANO_STATE_BACKEND_URI"])
    installs = [
        Requirement(argv[-1])
        for argv in commands(workflow)
        if argv[:2] == ["pip", "install"] and argv[-1].startswith("meltano")
    ]
    assert len(installs) == 1
    assert installs[0].extras & CLOUD_STATE_EXTRAS, "meltano needs its cloud state backend extra"


def test_environment_variables_name_declared_settings(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    prefixes = {
        "TAP_TWITTER_METRICS_": "tap-twitter-metrics",
        "TARGET_POSTGRES_": "target-postgres",
    }
    for name in job_env(workflow):
        for prefix, plugin in prefixes.items():
            if name.startswith(prefix):
                setting = name.removeprefix(prefix).lower()
                assert setting in setting_names(project, plugin), f"{name}: no such setting"


def test_meltano_environment_exists(workflow: dict[str, t.Any], project: dict[str, t.Any]) -> None:
    environment = job_env(workflow)["MELTANO_ENVIRONMENT"]
    assert environment in {entry["name"] for entry in project["environments"]}


def test_workflow_installs_the_meltano_version_the_project_requires(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    (requirement,) = [
        Requirement(argv[-1])
        for argv in commands(workflow)
        if argv[:2] == ["pip", "install"] and argv[-1].startswith("meltano")
    ]
    (pin,) = [spec for spec in requirement.specifier if spec.operator == "=="]
    assert pin.version in SpecifierSet(project["requires_meltano"])


def test_every_command_exists_in_this_project(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    extractors = plugin_names(project, "extractors")
    loaders = plugin_names(project, "loaders")
    ran = []
    for argv in commands(workflow):
        program, *args = argv
        if program == "pip":
            assert args[0] == "install"
            assert all(Requirement(arg).name == "meltano" for arg in args[1:])
        elif program == "meltano":
            subcommand, *plugins = args
            assert subcommand in {"install", "run"}, argv
            assert plugins, argv
            assert set(plugins) <= extractors | loaders, argv
            if subcommand == "run":
                assert plugins[0] in extractors, argv
                assert plugins[-1] in loaders, argv
            ran.append(subcommand)
        else:
            pytest.fail(f"unexpected command {argv}")
    assert ran == ["install", "run"]


def test_workflow_uses_only_well_known_actions(workflow: dict[str, t.Any]) -> None:
    used = [step["uses"] for step in jobs_steps(workflow) if "uses" in step]
    assert used[0].startswith("actions/checkout@")
    for action in used:
        name, _, version = action.partition("@")
        assert name in KNOWN_ACTIONS, action
        assert re.fullmatch(r"v[0-9]+", version), action


def test_workflow_holds_no_literal_secret(workflow: dict[str, t.Any]) -> None:
    text = WORKFLOW.read_text()
    for literal in ("sandbox-", "accesstoken", "postgresql+psycopg://", "s3://"):
        for line in text.splitlines():
            if literal in line:
                assert line.lstrip().startswith("#"), line
    assert workflow
