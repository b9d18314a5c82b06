r"""One value as a record holds it: a count a BIGINT takes, text PostgreSQL and UTF-8 take.

The X API sometimes sends values no column can hold: a count as "12a" or 1.5, a count past
the 64-bit range, text with NUL characters (PostgreSQL refuses them in text and jsonb) or
with half an emoji (json.loads turns an unpaired "\ud83d" escape into a lone surrogate, which
no UTF-8 writer accepts). Such a value is loaded as null or cleaned, never allowed to stop a
run: the same post would stop every later run too. Each one leaves a `ValueNote` for the log.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import Any, Final

import msgspec

COUNT_MAX: Final = 2**63 - 1
"""The largest count a PostgreSQL BIGINT holds."""
COUNT_MIN: Final = -COUNT_MAX
"""The smallest count loaded (BIGINT's own minimum is one less)."""
_COUNT_DIGITS: Final = len(str(COUNT_MAX))

NULLED: Final = "loaded as null"
"""How a note about a value that became null ends."""
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_NUL: Final = "\x00"

# A note shows a bad value, never the whole of a huge one.
_SHORT: Final = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40
_SHORT.maxlist = _SHORT.maxdict = 3
_SHORT.maxlevel = 2


@dataclass(frozen=True)
class ValueNote:
    """A value a record holds otherwise than the API sent it: nulled, cleaned or missing."""

    kind: str
    """What the value belongs to: "post", "media" or "user"."""
    resource_id: str
    """The post id, media key or user id."""
    field: str
    """Where the value sits in the API object, e.g. "public_metrics.like_count"."""
    issue: str
    """What was wrong and what the record holds instead."""

    def __str__(self) -> str:
        return f"{self.kind} {self.resource_id} {self.field}: {self.issue}"


def shown(value: object) -> str:
    """A short printable form of a value for a note (lone surrogates and NUL escaped)."""
    return _SHORT.repr(value)


def count_issue(value: object) -> tuple[int | None, str | None]:
    """Read a count: (the count, None), or (None, why the value is not one).

    Integers and digit strings are counts; a float only without a fraction. Anything else,
    and any count a BIGINT cannot hold, is not.
    """
    if value is None:
        return None, None
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value.lstrip("0")) > _COUNT_DIGITS:
            return None, f"{shown(value)} does not fit a 64-bit integer; {NULLED}"
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        return None, f"{shown(value)} is not a count; {NULLED}"
    if COUNT_MIN <= number <= COUNT_MAX:
        return number, None
    return None, f"{shown(value)} does not fit a 64-bit integer; {NULLED}"


def needs_cleaning(body: object) -> bool:
    """Whether some string in a decoded JSON body may hold a NUL or a lone surrogate.

    The check costs one C-speed encoding of the body, a fraction of parsing it; only bodies
    that fail it are cleaned string by string. False alarms (a literal backslash-u0000 in
    text, a value JSON cannot hold) merely take the slower path.
    """
    try:
        encoded = msgspec.json.encode(body)
    except (TypeError, ValueError):
        return True
    return b"\\u0000" in encoded


def clean_text(text: str) -> tuple[str, str | None]:
    """Text without NUL characters and with lone surrogates as U+FFFD, and what changed."""
    fixes = []
    if _NUL in text:
        text = text.replace(_NUL, "")
        fixes.append("NUL characters removed")
    if not text.isascii() and _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
        fixes.append("lone surrogates replaced with U+FFFD")
    return text, ", ".join(fixes) or None


def clean(value: Any) -> tuple[Any, str | None]:
    """A JSON value with every string cleaned (keys too), and what changed.

    Returns the value itself when nothing changed, so a clean value is never copied; the
    value given is never modified.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        pairs = [(clean(key), clean(item)) for key, item in value.items()]
        issues = [issue for pair in pairs for _, issue in pair if issue]
        if not issues:
            return value, None
        return {key: item for (key, _), (item, _) in pairs}, _merged(issues)
    if isinstance(value, list):
        items = [clean(item) for item in value]
        issues = [issue for _, issue in items if issue]
        return ([item for item, _ in items], _merged(issues)) if issues else (value, None)
    return value, None


def _merged(issues: list[str]) -> str:
    """One issue text for many cleaned strings, each fix named once, in a fixed order."""
    fixes = {fix for issue in issues for fix in issue.split(", ")}
    order = ("NUL characters removed", "lone surrogates replaced with U+FFFD")
    return ", ".join(fix for fix in order if fix in fixes)
