"""The tap's overrides of Singer SDK internals stay few, in one module, and pinned.

Each override stands in for SDK code the tap has read. When an SDK release changes that
code, these tests fail: read the new SDK code, check `tap_twitter_metrics/sdk_overrides.py`
still does the same job, then update the fingerprints below.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from pathlib import Path

import pytest
from singer_sdk import Stream, Tap

import tap_twitter_metrics
from tap_twitter_metrics import sdk_overrides
from tap_twitter_metrics.tap import TapTwitterMetrics

PACKAGE = Path(tap_twitter_metrics.__file__).parent
OVERRIDES = {"_generate_record_messages", "_increment_stream_state"}
# The SDK methods the overrides replace, and the SDK methods that call them.
PINNED_SDK_CODE = {
    "Stream._generate_record_messages": (
        "9b5f9fbcdedb7a1aec5673a44f51fd9bd88840f19f0fb29cba9953b9d9095bfe"
    ),
    "Stream._write_record_message": (
        "292b7bed39883bd999839ea8ac5153ab52287f6120f7203902892510b0cfbd08"
    ),
    "Stream._increment_stream_state": (
        "cabc0edb2fd4f0000dbd140a870dae871400ba13293bd2ecd8bdd93d0fb033bc"
    ),
    "Stream._sync_records": "8928dc7f50e9bf57cc98734b30e3953b0e19007f85fe020a0c80ccdbcf5d329f",
}


def fingerprint(qualified_name: str) -> str:
    owner, name = qualified_name.split(".")
    method = getattr({"Stream": Stream, "Tap": Tap}[owner], name)
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


@pytest.mark.parametrize("name", PINNED_SDK_CODE)
def test_the_sdk_code_the_overrides_stand_in_for_is_unchanged(name: str) -> None:
    assert fingerprint(name) == PINNED_SDK_CODE[name], (
        f"The SDK changed {name}: check tap_twitter_metrics/sdk_overrides.py against it"
    )


def sdk_private_overrides() -> dict[str, set[str]]:
    """Module -> underscore methods its classes define over a Singer SDK class's own."""
    found: dict[str, set[str]] = {}
    tap = TapTwitterMetrics(config={}, validate_config=False)
    for obj in [type(tap), *(type(stream) for stream in tap.streams.values())]:
        for cls in obj.__mro__:
            if not cls.__module__.startswith("tap_twitter_metrics"):
                continue
            sdk_bases = [base for base in cls.__mro__ if base.__module__.startswith("singer_sdk")]
            for name, value in vars(cls).items():
                private = name.startswith("_") and not name.startswith("__")
                code = inspect.isfunction(value) or isinstance(value, property)
                if private and code and any(hasattr(base, name) for base in sdk_bases):
                    found.setdefault(cls.__module__, set()).add(name)
    return found


def test_only_sdk_overrides_py_overrides_sdk_internals() -> None:
    assert sdk_private_overrides() == {sdk_overrides.__name__: OVERRIDES}


def test_no_module_imports_a_private_sdk_module_or_name() -> None:
    private = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                names = [*(node.module or "").split("."), *(alias.name for alias in node.names)]
                private += [f"{path.name}: {name}" for name in names if name.startswith("_")]
    assert private == []
