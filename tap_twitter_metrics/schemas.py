"""Load the JSON Schema of each stream from the package data."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

STREAM_NAMES: Final[tuple[str, ...]] = (
    "users",
    "tweets",
    "media",
    "tweet_public_metrics",
    "tweet_non_public_metrics",
    "tweet_organic_metrics",
    "tweet_promoted_metrics",
    "media_public_metrics",
    "media_non_public_metrics",
    "media_organic_metrics",
    "media_promoted_metrics",
)

# A source checkout (and an editable install) keeps the schemas at the repository root; the
# built wheel carries them inside the package.
_SOURCE_DIR: Final = Path(__file__).resolve().parent.parent / "schemas"


@cache
def _schema_text(stream_name: str) -> str:
    filename = f"{stream_name}.json"
    packaged = files("tap_twitter_metrics") / "schemas" / filename
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = _SOURCE_DIR / filename
    if source.is_file():
        return source.read_text(encoding="utf-8")
    msg = f"schema file {filename} is missing from the package and from {_SOURCE_DIR}"
    raise FileNotFoundError(msg)


def load_schema(stream_name: str) -> dict[str, Any]:
    """Return a fresh copy of the JSON Schema of `stream_name` (one of `STREAM_NAMES`)."""
    if stream_name not in STREAM_NAMES:
        msg = f"unknown stream {stream_name!r}; streams: {', '.join(STREAM_NAMES)}"
        raise ValueError(msg)
    schema: dict[str, Any] = json.loads(_schema_text(stream_name))
    return schema
