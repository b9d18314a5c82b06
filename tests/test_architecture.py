"""The shape ARCHITECTURE.md promises: one-way imports, short functions, one catalogue."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import tap_twitter_metrics
import tap_twitter_metrics_sandbox
from tap_twitter_metrics.catalogue import CATALOGUE, STREAM_NAMES, Part
from tap_twitter_metrics.streams import (
    AnalyticsStream,
    CatalogueStream,
    PassStream,
    RunStream,
    Tweets,
    UsageStream,
)
from tap_twitter_metrics.tap import TapTwitterMetrics

PACKAGE = Path(tap_twitter_metrics.__file__).parent
SANDBOX = Path(tap_twitter_metrics_sandbox.__file__).parent
LONGEST_FUNCTION = 40
ARCHITECTURE = (PACKAGE.parent / "ARCHITECTURE.md").read_text()


def package_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, type-checking imports included."""
    imports: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found = imports.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found.update(
                name.split(".")[1]
                for name in names
                if name.startswith("tap_twitter_metrics.") and name.count(".") == 1
            )
    return imports


def cycle_from(module: str, imports: dict[str, set[str]], path: list[str]) -> list[str] | None:
    if module in path:
        return [*path[path.index(module) :], module]
    for imported in sorted(imports.get(module, ())):
        if cycle := cycle_from(imported, imports, [*path, module]):
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    imports = package_imports()
    cycles = [cycle for module in imports if (cycle := cycle_from(module, imports, []))]
    assert cycles == []


def test_the_streams_do_not_import_the_tap() -> None:
    assert "tap" not in package_imports()["streams"]


def test_each_layer_imports_only_the_layers_above_it_in_architecture_md() -> None:
    rows = re.findall(r"^\| (`[a-z0-9_]+\.py`.*?) \|", ARCHITECTURE, re.MULTILINE)
    layers = [re.findall(r"`([a-z0-9_]+)\.py`", row) for row in rows]
    rank = {module: index for index, row in enumerate(layers) for module in row}
    imports = package_imports()
    assert set(rank) == set(imports) - {"__init__", "__main__", "signin"}
    upward = [
        f"{module} imports {imported}"
        for module in rank
        for imported in imports[module]
        if rank.get(imported, len(layers)) > rank[module]
    ]
    assert upward == []


@pytest.mark.parametrize("root", [PACKAGE, SANDBOX], ids=["tap", "sandbox"])
def test_every_function_fits_a_screen(root: Path) -> None:
    long = [
        f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert long == []


def test_the_sandbox_is_not_part_of_the_runtime_package() -> None:
    assert not (PACKAGE / "sandbox").exists()
    assert "sandbox" not in {path.name for path in PACKAGE.iterdir()}


def test_every_schema_file_is_a_catalogue_row_and_every_row_has_one() -> None:
    files = {path.stem for path in (PACKAGE / "schemas").glob("*.json")}
    assert files == set(STREAM_NAMES)
    for spec in CATALOGUE:
        schema = json.loads((PACKAGE / "schemas" / f"{spec.name}.json").read_text())
        assert set(spec.key) <= set(schema["required"]), spec.name


def test_discovery_is_the_catalogue() -> None:
    tap = TapTwitterMetrics(config={}, validate_config=False)
    catalog = {entry["tap_stream_id"]: entry for entry in tap.catalog_dict["streams"]}
    assert sorted(catalog) == sorted(STREAM_NAMES)
    for spec in CATALOGUE:
        entry = catalog[spec.name]
        root = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert list(entry["key_properties"]) == list(spec.key)
        assert root["selected-by-default"] is not spec.user_context
        assert list(entry["schema"]["properties"]) == list(spec.columns)
    streams = tap.streams
    assert isinstance(streams["tweets"], Tweets)
    kinds: dict[Part, type[CatalogueStream]] = {
        Part.TWEET_ANALYTICS: AnalyticsStream,
        Part.MEDIA_ANALYTICS: AnalyticsStream,
        Part.USAGE: UsageStream,
        Part.RUNS: RunStream,
    }
    for spec in CATALOGUE:
        kind = kinds.get(spec.part, PassStream)
        assert spec.part is Part.TWEETS or isinstance(streams[spec.name], kind), spec.name
