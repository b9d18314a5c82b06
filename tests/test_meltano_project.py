"""meltano.yml is a complete Meltano project that installs without Meltano Hub.

Every plugin is a custom definition written out in full (namespace, pip_url, settings), every
tap setting is declared with the kind Meltano needs to read it from TAP_TWITTER_METRICS_*
environment variables, secrets are sensitive, and each environment selects streams that exist.
"""

from __future__ import annotations

import re
import typing as t
import uuid
from pathlib import Path

import pytest
import yaml

from tap_twitter_metrics.catalogue import STREAM_NAMES
from tap_twitter_metrics.settings import CONFIG_SCHEMA
from tap_twitter_metrics_sandbox import CREDENTIALS, MAIN_USER_ID
from tests.tapruns import PUBLIC_STREAMS

REPO = Path(__file__).resolve().parents[1]
TAP = "tap-twitter-metrics"
SANDBOX_URL = "http://127.0.0.1:8787"
OAUTH1 = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
LOADER_SETTINGS = {
    "target-postgres": {
        "host",
        "port",
        "user",
        "password",
        "database",
        "sqlalchemy_url",
        "default_target_schema",
    },
    "target-jsonl": {"destination_path"},
    "target-snowflake": {
        "account",
        "user",
        "password",
        "private_key",
        "role",
        "database",
        "warehouse",
        "default_target_schema",
    },
}
PINNED = {
    "target-postgres": re.compile(r"meltanolabs-target-postgres==0\.8\.[0-9]+"),
    "target-jsonl": re.compile(r"target-jsonl==0\.1\.4"),
    "target-snowflake": re.compile(r"meltanolabs-target-snowflake==[0-9]+\.[0-9]+\.[0-9]+"),
}
MELTANO_KINDS = {
    "string": {"string", "password", "options"},
    "integer": {"integer"},
    "number": {"decimal"},
    "array": {"array"},
}


@pytest.fixture(scope="module")
def project() -> dict[str, t.Any]:
    document = yaml.safe_load((REPO / "meltano.yml").read_text())
    assert isinstance(document, dict)
    return document


def plugin(project: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    """A plugin's definition."""
    (definition,) = [
        entry
        for entries in project["plugins"].values()
        for entry in entries
        if entry["name"] == name
    ]
    return t.cast("dict[str, t.Any]", definition)


def settings(project: dict[str, t.Any], name: str) -> dict[str, dict[str, t.Any]]:
    """A plugin's declared settings by name."""
    return {setting["name"]: setting for setting in plugin(project, name).get("settings", [])}


def environment(project: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    """One environment's plugin overrides, by plugin name."""
    (entry,) = [entry for entry in project["environments"] if entry["name"] == name]
    plugins = entry.get("config", {}).get("plugins", {})
    return {item["name"]: item for items in plugins.values() for item in items}


def selected_streams(patterns: list[str]) -> set[str]:
    """Stream names a list of `stream.*` select patterns covers."""
    streams = {pattern.removesuffix(".*") for pattern in patterns}
    assert all(pattern.endswith(".*") for pattern in patterns), patterns
    return streams


def schema_kind(prop: dict[str, t.Any]) -> str:
    """The JSON Schema type of a setting, null left out."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (kind,) = [kind for kind in types if kind != "null"]
    return "date-time" if prop.get("format") == "date-time" else str(kind)


def test_project_keeps_usage_stats_off_with_a_fixed_project_id(project: dict[str, t.Any]) -> None:
    assert project["send_anonymous_usage_stats"] is False
    assert uuid.UUID(project["project_id"])
    assert project["default_environment"] == "dev"
    assert {entry["name"] for entry in project["environments"]} == {"dev", "ci", "prod"}


def test_every_plugin_is_defined_in_full_without_the_hub(project: dict[str, t.Any]) -> None:
    for entries in project["plugins"].values():
        in_full = {entry["name"] for entry in entries if "inherit_from" not in entry}
        for entry in entries:
            assert "variant" not in entry, f"{entry['name']} would be looked up on Meltano Hub"
            if "inherit_from" in entry:
                # One extractor per account: it inherits a plugin defined here, and its install.
                assert entry["inherit_from"] in in_full, entry["name"]
                assert "pip_url" not in entry, entry["name"]
                continue
            assert entry["namespace"], entry["name"]
            assert entry["pip_url"], entry["name"]
            assert entry["executable"] == entry["name"]


def test_loaders_are_pinned(project: dict[str, t.Any]) -> None:
    for name, pin in PINNED.items():
        assert pin.fullmatch(plugin(project, name)["pip_url"]), name


def test_extractor_installs_from_this_repository(project: dict[str, t.Any]) -> None:
    tap = plugin(project, TAP)
    assert tap["pip_url"] == "-e ."
    assert tap["namespace"] == "tap_twitter_metrics"
    assert set(tap["capabilities"]) == {"catalog", "discover", "state", "about"}


def test_every_tap_setting_is_declared(project: dict[str, t.Any]) -> None:
    declared = settings(project, TAP)
    assert set(declared) == set(CONFIG_SCHEMA["properties"])


def test_tap_settings_have_their_kinds_and_defaults(project: dict[str, t.Any]) -> None:
    declared = settings(project, TAP)
    for name, prop in CONFIG_SCHEMA["properties"].items():
        kind = schema_kind(prop)
        if kind == "date-time":
            assert declared[name]["kind"] == "date_iso8601", name
        else:
            assert declared[name]["kind"] in MELTANO_KINDS[kind], name
        assert declared[name].get("value") == prop.get("default"), name
        if declared[name]["kind"] == "options":
            options = [option["value"] for option in declared[name]["options"]]
            assert options == prop["enum"], name


def test_secret_settings_are_sensitive(project: dict[str, t.Any]) -> None:
    secrets = {
        TAP: {name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("secret")},
        "target-postgres": {"password", "sqlalchemy_url"},
        "target-snowflake": {"password", "private_key", "private_key_passphrase"},
    }
    for name, secret_settings in secrets.items():
        declared = settings(project, name)
        for setting in secret_settings:
            assert declared[setting]["kind"] == "password", (name, setting)
            assert declared[setting]["sensitive"] is True, (name, setting)


@pytest.mark.parametrize("loader", sorted(LOADER_SETTINGS))
def test_loader_settings_are_declared(project: dict[str, t.Any], loader: str) -> None:
    assert LOADER_SETTINGS[loader] <= set(settings(project, loader))


def test_default_selection_needs_only_a_bearer_token(project: dict[str, t.Any]) -> None:
    assert selected_streams(plugin(project, TAP)["select"]) == set(PUBLIC_STREAMS)


def test_dev_runs_against_the_sandbox_as_its_main_account(project: dict[str, t.Any]) -> None:
    tap = environment(project, "dev")[TAP]
    assert tap["config"]["api_url"] == SANDBOX_URL
    assert {name: tap["config"][name] for name in OAUTH1} == {
        name: CREDENTIALS[name] for name in OAUTH1
    }
    assert CREDENTIALS["access_token"].startswith(MAIN_USER_ID)
    assert selected_streams(tap["select"]) == set(STREAM_NAMES)


def test_dev_writes_jsonl_into_output(project: dict[str, t.Any]) -> None:
    assert environment(project, "dev")["target-jsonl"]["config"]["destination_path"] == "output"


@pytest.mark.parametrize("name", ["ci", "prod"])
def test_scheduled_environments_take_credentials_only_from_the_environment(
    project: dict[str, t.Any], name: str
) -> None:
    overrides = environment(project, name)
    secret_names = {
        setting for setting, spec in settings(project, TAP).items() if spec.get("sensitive")
    }
    configured = set(overrides[TAP].get("config", {}))
    assert not configured & (secret_names | {"api_url"})
    for loader in LOADER_SETTINGS:
        secrets = {
            setting for setting, spec in settings(project, loader).items() if spec.get("sensitive")
        }
        assert not set(overrides.get(loader, {}).get("config", {})) & secrets


@pytest.mark.parametrize("name", ["ci", "prod"])
def test_scheduled_environments_select_public_and_own_account_streams(
    project: dict[str, t.Any], name: str
) -> None:
    selected = selected_streams(environment(project, name)[TAP]["select"])
    assert set(PUBLIC_STREAMS) <= selected <= set(STREAM_NAMES)
    assert {"tweet_non_public_metrics", "tweet_organic_metrics"} <= selected
