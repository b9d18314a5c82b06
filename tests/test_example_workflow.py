"""The example GitHub Actions workflow is one a user can copy as it is.

It must be valid YAML, run on a cron schedule, take the X credentials and the database URL
from repository secrets, keep Meltano's state in a cloud state backend, and run only
commands that exist: meltano (in the version meltano.yml admits) with this project's plugins
and environments. Its matrix runs one job per account, each with the account's own extractor
(`tap-twitter-metrics--<account>`, inheriting from tap-twitter-metrics) and a complete
credential for it.
"""

from __future__ import annotations

import itertools
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
MATRIX_VALUE = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
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


def matrix_runs(workflow: dict[str, t.Any]) -> list[dict[str, str]]:
    """The matrix values of each run of the jobs: one per combination (one empty without)."""
    runs = []
    for job in workflow["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix", {})
        axes = {
            name: values for name, values in matrix.items() if name not in {"include", "exclude"}
        }
        runs += [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    return runs


def commands(workflow: dict[str, t.Any], values: dict[str, str]) -> list[list[str]]:
    """Each shell command one job run runs, as argv, with its matrix values filled in.

    `a || b` (a command run once more when it fails) counts as both.
    """
    return [
        shlex.split(MATRIX_VALUE.sub(lambda match: values[match[1]], command))
        for step in jobs_steps(workflow)
        for line in str(step.get("run", "")).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
        for command in line.split(" || ")
    ]


def env_prefixes(project: dict[str, t.Any]) -> dict[str, str]:
    """Each plugin's environment variable prefix, longest first: TAP_TWITTER_METRICS__BRAND_."""
    names = [entry["name"] for entries in project["plugins"].values() for entry in entries]
    prefixes = {re.sub("[^A-Z0-9]", "_", name.upper()) + "_": name for name in names}
    return dict(sorted(prefixes.items(), key=lambda item: -len(item[0])))


def setting_of(project: dict[str, t.Any], variable: str) -> tuple[str, str] | None:
    """The plugin and setting an environment variable sets, by the longest matching prefix."""
    for prefix, plugin in env_prefixes(project).items():
        if variable.startswith(prefix):
            return plugin, variable.removeprefix(prefix).lower()
    return None


def parent_of(project: dict[str, t.Any], plugin: str) -> str:
    """The plugin an inheriting plugin inherits from, else the plugin itself."""
    (definition,) = [
        entry
        for entries in project["plugins"].values()
        for entry in entries
        if entry["name"] == plugin
    ]
    return str(definition.get("inherit_from", plugin))


def extractor_settings(
    workflow: dict[str, t.Any], project: dict[str, t.Any], extractor: str
) -> set[str]:
    """The settings of an extractor the workflow's environment sets: its own or its parent's."""
    found = [setting_of(project, name) for name in job_env(workflow)]
    readers = {extractor, parent_of(project, extractor)}
    return {setting for plugin, setting in filter(None, found) if plugin in readers}


def extractors_run(workflow: dict[str, t.Any]) -> list[str]:
    """The extractor each job run runs (its second try runs the same)."""
    return [
        next(argv[2] for argv in commands(workflow, values) if argv[:2] == ["meltano", "run"])
        for values in matrix_runs(workflow)
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


def assert_commands_exist(argvs: list[list[str]], project: dict[str, t.Any]) -> None:
    """One job run installs meltano and the plugins, then runs a pipeline of this project."""
    extractors = plugin_names(project, "extractors")
    loaders = plugin_names(project, "loaders")
    ran = []
    for argv in argvs:
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
    # The sync, and the same sync once more when it fails.
    assert ran == ["install", "run", "run"]
    assert argvs[-1] == argvs[-2]


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


def test_credentials_and_database_url_come_from_secrets(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    env = job_env(workflow)
    credentials = {
        name: value
        for name, value in env.items()
        if (found := setting_of(project, name)) and found[1] in CREDENTIAL_SETTINGS
    }
    assert credentials, "the workflow sets no X credentials"
    not_secret = [name for name, value in credentials.items() if not SECRET.fullmatch(value)]
    assert not_secret == []
    assert SECRET.fullmatch(env["TARGET_POSTGRES_SQLALCHEMY_URL"])


def test_x_credentials_form_a_complete_credential(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    oauth1 = {"consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    extractors = extractors_run(workflow)
    assert extractors
    for extractor in extractors:
        names = extractor_settings(workflow, project, extractor)
        assert oauth1 <= names or "bearer_token" in names or "oauth2_refresh_token" in names


def test_each_account_job_runs_its_own_extractor_with_its_own_token(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    extractors = extractors_run(workflow)
    assert len(extractors) >= 2
    assert len(set(extractors)) == len(extractors), "two jobs would share one state ID"
    found = [setting_of(project, name) for name in job_env(workflow)]
    set_for = {
        extractor: {setting for plugin, setting in filter(None, found) if plugin == extractor}
        for extractor in extractors
    }
    for extractor in extractors:
        assert parent_of(project, extractor) == "tap-twitter-metrics"
        assert {"access_token", "access_token_secret"} <= set_for[extractor], extractor
    # A token set for tap-twitter-metrics itself would be read by an account missing its own.
    shared = {setting for plugin, setting in filter(None, found) if plugin == "tap-twitter-metrics"}
    assert not shared & {"access_token", "access_token_secret", "bearer_token"}
    for job in workflow["jobs"].values():
        assert job["strategy"]["fail-fast"] is False


def test_state_is_kept_in_a_cloud_state_backend(workflow: dict[str, t.Any]) -> None:
    env = job_env(workflow)
    assert SECRET.fullmatch(env["MELTANO_STATE_BACKEND_URI"])
    for values in matrix_runs(workflow):
        installs = [
            Requirement(argv[-1])
            for argv in commands(workflow, values)
            if argv[:2] == ["pip", "install"] and argv[-1].startswith("meltano")
        ]
        assert len(installs) == 1
        assert installs[0].extras & CLOUD_STATE_EXTRAS, "meltano needs its cloud backend extra"


def test_environment_variables_name_declared_settings(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    plugins = 0
    for name in job_env(workflow):
        if found := setting_of(project, name):
            plugin, setting = found
            assert setting in setting_names(project, parent_of(project, plugin)), (
                f"{name}: no such setting"
            )
            plugins += 1
    assert plugins


def test_meltano_environment_exists(workflow: dict[str, t.Any], project: dict[str, t.Any]) -> None:
    environment = job_env(workflow)["MELTANO_ENVIRONMENT"]
    assert environment in {entry["name"] for entry in project["environments"]}


def test_workflow_installs_the_meltano_version_the_project_requires(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    for values in matrix_runs(workflow):
        (requirement,) = [
            Requirement(argv[-1])
            for argv in commands(workflow, values)
            if argv[:2] == ["pip", "install"] and argv[-1].startswith("meltano")
        ]
        (pin,) = [spec for spec in requirement.specifier if spec.operator == "=="]
        assert pin.version in SpecifierSet(project["requires_meltano"])


def test_every_command_exists_in_this_project(
    workflow: dict[str, t.Any], project: dict[str, t.Any]
) -> None:
    for values in matrix_runs(workflow):
        assert_commands_exist(commands(workflow, values), project)


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
