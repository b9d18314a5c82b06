"""Which stretches of an account's timeline a run reads.

X bills every post read, so a run reads only what it must: the posts new since the
bookmark, the recent ones whose figures it refreshes (a flat look-back, or a schedule of
ages at which a post is read again), and the stretches an earlier run left unread when it
stopped at its read cap. Stretches that overlap are read as one.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tap_twitter_metrics.settings import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

SNOWFLAKE_EPOCH_MS = 1288834974657
SNOWFLAKE_START = datetime(2010, 11, 4, tzinfo=timezone.utc)


def api_time(moment: datetime) -> str:
    """The timeline's time parameter format, which the state keeps too: whole seconds, UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def snowflake_time(post_id: str) -> datetime | None:
    """Creation time encoded in a post id, when the id is a snowflake."""
    if not post_id.isdigit():
        return None
    moment = datetime.fromtimestamp(
        ((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=timezone.utc
    )
    return (
        moment
        if SNOWFLAKE_START < moment < datetime.now(timezone.utc) + timedelta(days=1)
        else None
    )


@dataclass(frozen=True)
class Span:
    """Posts from `start` (or after the post `since_id`) up to `end` (or below `until_id`).

    No lower bound: as far back as the API reaches; no upper bound: up to now. Ids bound
    exactly where a second holds several posts, so a stretch left at a cap resumes below the
    oldest post read.
    """

    start: datetime | None = None
    end: datetime | None = None
    since_id: str | None = None
    until_id: str | None = None

    @property
    def lower(self) -> datetime | None:
        """The oldest creation time the span may hold."""
        return snowflake_time(self.since_id) if self.since_id else self.start

    @property
    def upper(self) -> datetime | None:
        """The newest creation time the span may hold; None: now."""
        return snowflake_time(self.until_id) if self.until_id else self.end

    def below(self, post_id: str) -> Span:
        """The part of the span older than a post read in it."""
        return Span(start=self.start, since_id=self.since_id, until_id=post_id)

    def as_state(self) -> dict[str, str | None]:
        """The span as the state keeps it."""
        return {
            "start": api_time(self.start) if self.start else None,
            "end": api_time(self.end) if self.end else None,
            "since_id": self.since_id,
            "until_id": self.until_id,
        }

    @classmethod
    def from_state(cls, kept: dict[str, t.Any]) -> Span:
        """A span the state kept (checked by bookmarks.check_bookmarks)."""
        return cls(
            start=parse_datetime(kept["start"]) if kept.get("start") else None,
            end=parse_datetime(kept["end"]) if kept.get("end") else None,
            since_id=kept.get("since_id"),
            until_id=kept.get("until_id"),
        )


@dataclass(frozen=True)
class TimelineRead:
    """What a run read of one account's timeline: its newest post, and what the cap left."""

    newest_id: str | None = None
    unread: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class Refresh:
    """How a run reads figures again: a flat look-back, or a schedule of ages."""

    lookback: timedelta
    ages: tuple[timedelta, ...] | None

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Refresh:
        """The refresh the settings ask for: refresh_ages_days, when set, over lookback_days."""
        ages = config.get("refresh_ages_days")
        return cls(
            lookback=timedelta(days=int(config.get("lookback_days", 7))),
            ages=None if ages is None else tuple(timedelta(days=int(day)) for day in ages),
        )


def plan(
    *,
    refresh: Refresh,
    start_date: datetime | None,
    bookmark: datetime | None,
    newest_id: str | None,
    last_read: datetime | None,
    now: datetime,
    unread: Iterable[Span] = (),
) -> list[Span]:
    """The spans one account's timeline is read in this run, newest first."""
    if bookmark is None:
        spans = [Span(start=start_date)]
    elif refresh.ages is None and refresh.lookback:
        spans = [Span(start=bookmark - refresh.lookback)]
    else:
        # The new posts, then those whose age passed a point of the schedule since the last
        # run: a few small windows instead of one long one, since each post read is billed.
        since = last_read or bookmark
        # After the newest post read, exactly, when its id tells its time.
        exact = newest_id and snowflake_time(newest_id)
        spans = [Span(since_id=newest_id) if exact else Span(start=bookmark)]
        spans += [Span(start=since - age, end=now - age) for age in refresh.ages or ()]
    return merged([clipped(span, start_date) for span in [*spans, *unread]])


def clipped(span: Span, start_date: datetime | None) -> Span | None:
    """The span without what lies before start_date; None when nothing is left."""
    if start_date is None:
        return span
    upper = span.upper
    if upper is not None and upper < start_date:
        return None
    lower = span.lower
    if lower is None or lower < start_date:
        return Span(start=start_date, end=span.end, until_id=span.until_id)
    return span


def merged(spans: Sequence[Span | None]) -> list[Span]:
    """The spans, newest first, with those that overlap or touch read as one."""
    newest_first = sorted(
        (span for span in spans if span is not None),
        key=lambda span: span.upper or datetime.max.replace(tzinfo=timezone.utc),
        reverse=True,
    )
    out: list[Span] = []
    for span in newest_first:
        if out and _reaches(span, out[-1]):
            out[-1] = _joined(out[-1], span)
        else:
            out.append(span)
    return out


def _reaches(older: Span, newer: Span) -> bool:
    """Whether `older` reaches up to where `newer` starts, so both read as one."""
    if newer.lower is None:
        return True
    if older.until_id and older.upper is None:
        # An id whose time is unknown: its span is read apart.
        return False
    return older.upper is None or older.upper >= newer.lower


def _joined(newer: Span, older: Span) -> Span:
    """One span from the top of `newer` down to the bottom of whichever reaches lower."""
    if newer.lower is None or (older.lower is not None and older.lower >= newer.lower):
        return newer
    return Span(start=older.start, since_id=older.since_id, end=newer.end, until_id=newer.until_id)
