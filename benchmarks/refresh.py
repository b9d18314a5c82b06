"""Benchmark the billed reads of the tap's refresh modes over simulated daily runs.

From the repository root, with the development environment active:

    python -m benchmarks.refresh            # 30 simulated days, three modes: about a minute
    python -m benchmarks.refresh --quick    # 4 simulated days: about ten seconds
    python -m benchmarks.refresh --mode lookback_days=7 --mode refresh_ages_days=1,7,30

It prints a Markdown report and writes it to `benchmarks/refresh_results.md` (`--output`;
with `--quick`, nowhere unless asked).

How it measures
- Modes (`--mode`, repeatable): `lookback_days=N`, a flat look-back (each run reads the
  account's timeline from its bookmark, the newest created_at read, minus N days, up to
  now), or `refresh_ages_days=1,3,7,30`, a refresh schedule (each run reads the posts new
  since the bookmark, plus, for each age p, the posts whose age passed p since the last
  run: created in [last run - p days, now - p days]; windows that overlap are read as one).
  `lookback_days=7`, the default setting, is always measured: every ratio is to it.
  Default modes: `lookback_days=7`, `refresh_ages_days=1,3,7,30`, `refresh_ages_days=1,7,30`.
- The sandbox runs in this process (`Sandbox(...).start()`, real HTTP on 127.0.0.1), rate
  limits lifted so no run waits. Its world is generated before the history starts, with no
  post of the main account; the history and the simulated days are added through
  `World.advance`, one post at a time at its instant: 10 posts a day (`--quick`: the same),
  evenly spread over each UTC day, for 40 days (`--quick`: 32) before the first run.
- Simulated days: day 0 is at midnight UTC, 31 days (`--days` + 1) before today. The first
  run, at day 0 00:05 UTC, is the initial sync (`start_date` 30 days before day 0, no
  state); it is reported apart. Then for each day k = 1..30 (`--quick`: 4): the day's 10
  posts are added, and the tap runs at day k 00:05 UTC with the state of the run before.
  All modes run in step against the same world, each with its own state.
- The tap runs as a subprocess of its usual command line (`--config`, `--catalog`,
  `--state`) under `time_machine.travel(day k 00:05 UTC, tick=True)`: its clock, and so
  every window it computes, is the simulated one. Config: the sandbox's app-only bearer
  token, `user_ids` = the main account, `exclude: []`; selected streams: tweets,
  tweet_public_metrics, sync_runs.
- Posts read in a run = the tweets RECORD messages it wrote (each post read is written once
  per run: checked, and checked against the sync_runs record's own_posts_read +
  other_posts_read). The sandbox's request log gives the requests of each run and shows
  that it refused none. When the sandbox counts billed resources (`Sandbox.usage()`), that
  count is taken per run and compared with the tap's; the count is cleared before each run
  (`Sandbox.reset_usage()`), as X bills a post once per UTC day and the sandbox's day is the
  real one, the same for every simulated run.
- Window arithmetic: the posts each run should read, worked out from the world's post times,
  the run instants and the mode's definition above; the report says whether every run read
  exactly those posts.

Columns
- initial sync: posts read by the first run (30 days of history);
- reads/day: mean, min and max of the posts read by the daily runs; reads over N days: their
  sum; per 30-day month: that sum scaled to 30 days (the sum itself when N is 30);
- requests/day: mean API requests of a daily run; sandbox billed/day: mean resources the
  sandbox billed a daily run (n/a: the sandbox does not count);
- ratio: the mode's reads over N days over `lookback_days: 7`'s;
- $/month own, other: the month's reads at X's price of a post of the signed-in account's own
  timeline ($0.001) and of any other post ($0.005);
- coverage: the ages at which the daily runs read posts (age = run instant - created_at, in
  whole days, with the number of reads); posts reaching 30 days: the posts whose age passed
  30 days between the initial sync and the last run, and how many of them some run read at
  an age of 30 days or more (what "covering ages up to 30 days" asks of a schedule);
- targets: per schedule, its reads against 60 % of `lookback_days: 7`'s, the 30-day coverage,
  and whether every post that passed an age of the schedule during the runs was read within
  a day after passing it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.run import add_output_argument, machine, mark, row
from tap_twitter_metrics.billing import PRICES
from tap_twitter_metrics_sandbox import MAIN_USER_ID, Sandbox, SandboxOptions

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "refresh_results.md"
SEED = 7
UNLIMITED = 10**9
DAY = timedelta(days=1)
# Each run starts this long after midnight UTC of its simulated day.
RUN_OFFSET = timedelta(minutes=5)
# start_date of the first run: this many days before day 0.
START_DAYS = 30
# What a schedule must cover, and the share of lookback_days 7's reads it may use.
COVERAGE_DAYS = 30
TARGET_SHARE = 0.6
STREAMS = ("tweets", "tweet_public_metrics", "sync_runs")
DEFAULT_MODES = ("lookback_days=7", "refresh_ages_days=1,3,7,30", "refresh_ages_days=1,7,30")
OWN_PRICE = PRICES["price_per_own_post"][0]
OTHER_PRICE = PRICES["price_per_post"][0]

# The tap under a travelled clock: the first argument is the instant, the rest the tap's.
TAP_CODE = """\
import sys
from datetime import datetime

import time_machine

at = datetime.fromisoformat(sys.argv.pop(1))
with time_machine.travel(at, tick=True):
    from tap_twitter_metrics.tap import main

    main()
"""

SUMMARY_HEADER = (
    "mode",
    "initial sync reads",
    "reads/day (mean)",
    "min",
    "max",
    "reads over {days} days",
    "per 30-day month",
    "requests/day",
    "sandbox billed/day",
    "ratio to `lookback_days: 7`",
    "$/month own",
    "$/month other",
)
COVERAGE_HEADER = (
    "mode",
    "oldest age read (days)",
    "ages read (whole days: reads)",
    "posts reaching 30 days",
    "read at >= 30 days",
)


@dataclass(frozen=True)
class Sizes:
    """How long the simulation is and how busy the account."""

    days: int
    history_days: int
    posts_per_day: int


FULL = Sizes(days=30, history_days=40, posts_per_day=10)
QUICK = Sizes(days=4, history_days=32, posts_per_day=10)


@dataclass(frozen=True)
class Mode:
    """One refresh setting of the tap."""

    setting: str
    days: tuple[int, ...]

    @property
    def schedule(self) -> bool:
        """Whether this is a refresh schedule (else a flat look-back)."""
        return self.setting == "refresh_ages_days"

    @property
    def label(self) -> str:
        """The setting as the report names it."""
        value = f"[{', '.join(map(str, self.days))}]" if self.schedule else str(self.days[0])
        return f"`{self.setting}: {value}`"

    @property
    def config(self) -> dict[str, t.Any]:
        """The setting as the tap's config holds it."""
        return {self.setting: list(self.days) if self.schedule else self.days[0]}


REFERENCE = Mode("lookback_days", (7,))


def parse_mode(text: str) -> Mode:
    """`lookback_days=7` or `refresh_ages_days=1,3,7,30` (brackets and spaces allowed)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    try:
        days = tuple(int(part) for part in value.strip().strip("[]").split(",") if part.strip())
    except ValueError:
        days = ()
    if not sep or not days or name not in ("lookback_days", "refresh_ages_days"):
        msg = f"not a mode: {text!r} (lookback_days=N or refresh_ages_days=A,B,...)"
        raise argparse.ArgumentTypeError(msg)
    if name == "lookback_days" and len(days) != 1:
        msg = f"lookback_days takes one number: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return Mode(name, days)


@dataclass
class Run:
    """One tap run of one mode."""

    day: int
    at: datetime
    read: dict[str, datetime]
    """Post id -> created_at of every tweets RECORD."""
    records: int
    """tweets RECORD messages."""
    counted: int | None
    """The sync_runs record's own_posts_read + other_posts_read (None: no such record)."""
    requests: int
    rejected: list[str]
    """Requests the sandbox answered with a 4xx or 5xx: method, path and status."""
    billed: int | None
    """What the sandbox billed for the run (None: the sandbox does not count)."""
    expected: set[str]
    """The posts the window arithmetic says the run reads."""

    @property
    def reads(self) -> int:
        """Posts read."""
        return self.records

    @property
    def as_expected(self) -> bool:
        """Whether the run read exactly the posts the window arithmetic gives."""
        return set(self.read) == self.expected


@dataclass
class Track:
    """One mode through the simulation: its state and its runs."""

    mode: Mode
    state: dict[str, t.Any] | None = None
    initial: Run | None = None
    daily: list[Run] = field(default_factory=list)
    failure: str | None = None
    warnings: Counter[str] = field(default_factory=Counter)
    # The window arithmetic's own view: newest created_at read, and the last run's instant.
    model_bookmark: datetime | None = None
    model_last_run: datetime | None = None

    @property
    def total(self) -> int:
        """Posts read by the daily runs."""
        return sum(run.reads for run in self.daily)

    @property
    def mean(self) -> float:
        """Posts read per daily run."""
        return self.total / len(self.daily) if self.daily else 0.0

    @property
    def requests_per_day(self) -> float:
        """API requests per daily run."""
        return sum(run.requests for run in self.daily) / len(self.daily) if self.daily else 0.0

    @property
    def billed_per_day(self) -> float | None:
        """What the sandbox billed per daily run (None: it does not count)."""
        billed = [run.billed for run in self.daily]
        if not billed or any(count is None for count in billed):
            return None
        return sum(count or 0 for count in billed) / len(billed)

    def ages(self) -> Counter[int]:
        """Reads of the daily runs by the post's age at the read, in whole days."""
        return Counter(
            int((run.at - created) / DAY) for run in self.daily for created in run.read.values()
        )

    def oldest_age(self) -> float:
        """The oldest age, in days, at which a daily run read a post."""
        return max(
            ((run.at - created) / DAY for run in self.daily for created in run.read.values()),
            default=0.0,
        )

    def read_at_or_after(self, age: timedelta) -> set[str]:
        """Posts some daily run read at `age` or older."""
        return {
            post_id
            for run in self.daily
            for post_id, created in run.read.items()
            if run.at - created >= age
        }

    def read_within_a_day_of(self, age: timedelta) -> set[str]:
        """Posts some daily run read at an age between `age` and `age` + 1 day + a minute."""
        late = age + DAY + timedelta(minutes=1)
        return {
            post_id
            for run in self.daily
            for post_id, created in run.read.items()
            if age <= run.at - created <= late
        }


@dataclass
class Outcome:
    """Everything the report needs."""

    sizes: Sizes
    tracks: list[Track]
    day0: datetime
    start_date: datetime
    run_times: list[datetime]
    """The instant of each run, the initial sync first."""
    posts: dict[str, datetime]
    """Every post of the main account at the end: id -> created_at."""
    usage_counted: bool
    seconds: float

    @property
    def reference(self) -> Track:
        """The `lookback_days: 7` track."""
        return next(track for track in self.tracks if track.mode == REFERENCE)

    def reaching(self, age: timedelta) -> set[str]:
        """Posts whose age passed `age` between the initial sync and the last run."""
        first, last = self.run_times[0], self.run_times[-1]
        return {
            post_id
            for post_id, created in self.posts.items()
            if first < created + age <= last and created >= self.start_date
        }


# --- the simulation ------------------------------------------------------------------------


def post_instants(day: int, day0: datetime, per_day: int) -> list[datetime]:
    """The instants of day `day`'s posts: evenly spread over the UTC day before day 0 + `day`."""
    start = day0 + (day - 1) * DAY
    return [
        start + timedelta(seconds=round(DAY.total_seconds() * (2 * i + 1) / (2 * per_day)))
        for i in range(per_day)
    ]


def add_day(sandbox: Sandbox, day: int, day0: datetime, per_day: int) -> None:
    """Add one day of posts to the main account, one at each instant, figures growing."""
    with sandbox.app.lock:
        for at in post_instants(day, day0, per_day):
            sandbox.world.advance(
                new_posts=1, metric_growth=True, now_ms=int(at.timestamp() * 1000)
            )


def usage_total(sandbox: Sandbox) -> int | None:
    """Resources the sandbox billed so far, all kinds together (None: it does not count)."""
    usage = getattr(sandbox, "usage", None)
    if not callable(usage):
        return None
    counts = usage()
    billed = counts.get("billed") if isinstance(counts, dict) else getattr(counts, "billed", None)
    return None if billed is None else _count(billed)


def reset_usage(sandbox: Sandbox) -> bool:
    """Make the sandbox forget what it billed, where it can (else counts are diffed)."""
    reset = getattr(sandbox, "reset_usage", None)
    if callable(reset):
        reset()
        return True
    return False


def _count(value: object) -> int:
    """A count, or the sum of the counts a mapping or dataclass holds."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return sum(_count(item) for item in value.values())
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def discover_catalog() -> dict[str, t.Any]:
    """The tap's catalog with only STREAMS selected."""
    result = subprocess.run(
        [sys.executable, "-m", "tap_twitter_metrics", "--discover"], capture_output=True, check=True
    )
    catalog: dict[str, t.Any] = json.loads(result.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
    return catalog


def api_time(moment: datetime) -> str:
    """An instant as the tap's settings take it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """A created_at or setting time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class TapOutput:
    """What one tap run printed."""

    read: dict[str, datetime]
    records: int
    counted: int | None
    state: dict[str, t.Any] | None
    warnings: list[str]


def run_tap(workdir: Path, name: str, at: datetime, args: Sequence[str]) -> TapOutput:
    """The tap at simulated instant `at`; raise RuntimeError when it fails."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        result = subprocess.run(
            [sys.executable, "-c", TAP_CODE, at.isoformat(), *args],
            stdout=out,
            stderr=err,
            check=False,
        )
    errors = err_path.read_text(errors="replace")
    if result.returncode != 0:
        msg = f"the tap exited with {result.returncode}:\n{errors[-3000:]}"
        raise RuntimeError(msg)
    read: dict[str, datetime] = {}
    records = 0
    counted: int | None = None
    state: dict[str, t.Any] | None = None
    with out_path.open() as lines:
        for line in lines:
            if not line.strip():
                continue
            message = json.loads(line)
            kind, stream = message.get("type"), message.get("stream")
            if kind == "RECORD" and stream == "tweets":
                record = message["record"]
                read[record["id"]] = parse_time(record["created_at"])
                records += 1
            elif kind == "RECORD" and stream == "sync_runs":
                record = message["record"]
                counted = int(record.get("own_posts_read") or 0) + int(
                    record.get("other_posts_read") or 0
                )
            elif kind == "STATE":
                state = message["value"]
    warnings = [
        line.split("|", 3)[-1].strip() if line.count("|") >= 3 else line.strip()
        for line in errors.splitlines()
        if "WARNING" in line
    ]
    return TapOutput(read, records, counted, state, warnings)


def expected_reads(
    mode: Mode,
    posts: dict[str, datetime],
    *,
    start_date: datetime,
    bookmark: datetime | None,
    last_run: datetime | None,
    now: datetime,
) -> set[str]:
    """The posts a run of `mode` at `now` reads, by the window arithmetic of the docstring."""
    existing = {
        post_id: created for post_id, created in posts.items() if start_date <= created <= now
    }
    if bookmark is None:
        return set(existing)
    if not mode.schedule:
        lookback = mode.days[0] * DAY
        if not lookback:
            return {post_id for post_id, created in existing.items() if created > bookmark}
        return {post_id for post_id, created in existing.items() if created >= bookmark - lookback}
    since = last_run or bookmark
    windows = [(since - age * DAY, now - age * DAY) for age in mode.days]
    return {
        post_id
        for post_id, created in existing.items()
        if created > bookmark or any(low <= created <= high for low, high in windows)
    }


class Simulation:
    """The sandbox, the modes and their runs, day by day."""

    def __init__(self, workdir: Path, sizes: Sizes, modes: Sequence[Mode]) -> None:
        self.workdir = workdir
        self.sizes = sizes
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day0 = today - (sizes.days + 1) * DAY
        self.start_date = self.day0 - START_DAYS * DAY
        self.tracks = [Track(mode) for mode in modes]
        self.run_times: list[datetime] = []
        self.catalog = workdir / "catalog.json"
        self.catalog.write_text(json.dumps(discover_catalog()))
        world_start = self.day0 - (sizes.history_days + 1) * DAY
        self.sandbox = Sandbox(
            SandboxOptions(
                seed=SEED, posts=0, partner_posts=0, rate_limit=UNLIMITED, now=world_start
            )
        )

    def posts(self) -> dict[str, datetime]:
        """Every post of the main account: id -> created_at."""
        with self.sandbox.app.lock:
            return {post.id: post.created_at for post in self.sandbox.world.timeline(MAIN_USER_ID)}

    def run(self) -> None:
        """History, the initial sync, then the daily runs."""
        sizes = self.sizes
        with self.sandbox.start():
            for day in range(1 - sizes.history_days, 1):
                add_day(self.sandbox, day, self.day0, sizes.posts_per_day)
            for day in range(sizes.days + 1):
                if day:
                    add_day(self.sandbox, day, self.day0, sizes.posts_per_day)
                at = self.day0 + day * DAY + RUN_OFFSET
                self.run_times.append(at)
                progress(f"day {day}/{sizes.days}: {at:%Y-%m-%d %H:%M} UTC")
                for index, track in enumerate(self.tracks):
                    if track.failure is None:
                        self.run_track(index, track, day, at)

    def run_track(self, index: int, track: Track, day: int, at: datetime) -> None:
        """One run of one mode, kept in its track (or its failure)."""
        config = {
            **self.sandbox.config_for("bearer"),
            "user_ids": [MAIN_USER_ID],
            "start_date": api_time(self.start_date),
            "exclude": [],
            **track.mode.config,
        }
        name = f"mode{index}-day{day}"
        config_path = self.workdir / f"{name}.config.json"
        config_path.write_text(json.dumps(config))
        args = ["--config", str(config_path), "--catalog", str(self.catalog)]
        if track.state is not None:
            state_path = self.workdir / f"{name}.state.json"
            state_path.write_text(json.dumps(track.state))
            args += ["--state", str(state_path)]
        posts = self.posts()
        expected = expected_reads(
            track.mode,
            posts,
            start_date=self.start_date,
            bookmark=track.model_bookmark,
            last_run=track.model_last_run,
            now=at,
        )
        self.sandbox.clear_requests()
        # X bills a post once per UTC day, and the sandbox's day is the real one, shared by
        # every simulated run: its memory of what it billed is cleared before each run.
        billed_before = 0 if reset_usage(self.sandbox) else usage_total(self.sandbox)
        try:
            output = run_tap(self.workdir, name, at, args)
        except RuntimeError as error:
            track.failure = f"day {day}: {error}"
            progress(f"  {track.mode.label} failed: {error}")
            return
        billed_after = usage_total(self.sandbox)
        logged = self.sandbox.requests
        run = Run(
            day=day,
            at=at,
            read=output.read,
            records=output.records,
            counted=output.counted,
            requests=len(logged),
            rejected=[f"{r.method} {r.path} {r.status}" for r in logged if r.status >= 400],
            billed=None
            if billed_before is None or billed_after is None
            else billed_after - billed_before,
            expected=expected,
        )
        track.warnings.update(output.warnings)
        track.state = output.state if output.state is not None else track.state
        if expected:
            newest = max(posts[post_id] for post_id in expected)
            track.model_bookmark = max(newest, track.model_bookmark or newest)
        track.model_last_run = at
        if day:
            track.daily.append(run)
        else:
            track.initial = run
        progress(f"  {track.mode.label}: {run.reads} posts read, {run.requests} requests")


# --- the report ----------------------------------------------------------------------------


def separator(columns: int, left: Iterable[int] = (0,)) -> str:
    """A Markdown table's separator: the `left` columns aligned left, the others right."""
    lefts = set(left)
    return row("---" if i in lefts else "---:" for i in range(columns))


def progress(text: str) -> None:
    """A line on stderr, so that stdout holds only the report."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def money(amount: float) -> str:
    """Dollars with cents."""
    return f"${amount:,.2f}"


def summary_rows(outcome: Outcome) -> list[str]:
    """The reads table: one row per mode that ran to the end."""
    days = outcome.sizes.days
    reference = outcome.reference.total
    lines = [row(h.format(days=days) for h in SUMMARY_HEADER), separator(len(SUMMARY_HEADER))]
    for track in outcome.tracks:
        if track.failure is not None or track.initial is None:
            lines.append(row([track.mode.label, *["failed"] * (len(SUMMARY_HEADER) - 1)]))
            continue
        reads = [run.reads for run in track.daily]
        month = track.total * 30 / days
        lines.append(
            row(
                (
                    track.mode.label,
                    f"{track.initial.reads:,}",
                    f"{track.mean:.1f}",
                    min(reads),
                    max(reads),
                    f"{track.total:,}",
                    f"{month:,.0f}",
                    f"{track.requests_per_day:.1f}",
                    f"{track.billed_per_day:.1f}" if track.billed_per_day is not None else "n/a",
                    f"{track.total / reference:.2f}" if reference else "n/a",
                    money(month * OWN_PRICE),
                    money(month * OTHER_PRICE),
                )
            )
        )
    return lines


def coverage_rows(outcome: Outcome) -> list[str]:
    """The coverage table: the ages at which each mode read posts."""
    lines = [row(COVERAGE_HEADER), separator(len(COVERAGE_HEADER), left=(0, 2))]
    reaching = outcome.reaching(COVERAGE_DAYS * DAY)
    for track in finished(outcome):
        ages = track.ages()
        old = track.read_at_or_after(COVERAGE_DAYS * DAY) & reaching
        lines.append(
            row(
                (
                    track.mode.label,
                    f"{track.oldest_age():.2f}",
                    ", ".join(f"{age}: {count}" for age, count in sorted(ages.items())),
                    len(reaching),
                    len(old),
                )
            )
        )
    return lines


def finished(outcome: Outcome) -> list[Track]:
    """The tracks that ran every day."""
    return [track for track in outcome.tracks if track.failure is None and track.initial]


def per_run_rows(outcome: Outcome) -> list[str]:
    """Posts read by every run of every mode (and the arithmetic's figure when it differs)."""
    tracks = finished(outcome)
    header = ["day", "run at (UTC)", *(f"{track.mode.label} reads" for track in tracks)]
    lines = [row(header), separator(len(header))]
    for day, at in enumerate(outcome.run_times):
        cells: list[object] = [day if day else "0 (initial sync)", f"{at:%Y-%m-%d %H:%M}"]
        for track in tracks:
            run = track.initial if day == 0 else track.daily[day - 1]
            assert run is not None
            cell = f"{run.reads:,}"
            if not run.as_expected:
                cell += f" (arithmetic: {len(run.expected):,})"
            if run.billed is not None and run.billed != run.reads:
                cell += f" (sandbox billed {run.billed:,})"
            cells.append(cell)
        lines.append(row(cells))
    return lines


def target_lines(outcome: Outcome) -> list[str]:
    """One line per mode: the 60 % target and the 30-day coverage for schedules."""
    reference = outcome.reference
    reaching = outcome.reaching(COVERAGE_DAYS * DAY)
    out = []
    for track in finished(outcome):
        if not track.mode.schedule:
            out.append(
                f"- {track.mode.label}: {track.mean:.1f} reads/day; posts are read again up to "
                f"{track.oldest_age():.1f} days old; posts reaching {COVERAGE_DAYS} days read "
                f"at >= {COVERAGE_DAYS} days: "
                f"{len(track.read_at_or_after(COVERAGE_DAYS * DAY) & reaching)} of "
                f"{len(reaching)}"
            )
            continue
        share = track.total / reference.total if reference.total else float("inf")
        covered = track.read_at_or_after(COVERAGE_DAYS * DAY) & reaching
        on_time = all(
            outcome.reaching(age * DAY) <= track.read_within_a_day_of(age * DAY)
            for age in track.mode.days
        )
        out.append(
            f"- {track.mode.label}: {track.mean:.1f} reads/day = {share:.2f} x "
            f"{REFERENCE.label}'s {reference.mean:.1f} (target <= {TARGET_SHARE:.2f}) "
            f"{mark(share <= TARGET_SHARE)}; posts reaching {COVERAGE_DAYS} days read at "
            f">= {COVERAGE_DAYS} days: {len(covered)} of {len(reaching)} "
            f"{mark(bool(reaching) and covered == reaching)}; every post read within a day "
            f"after passing each age of the schedule {mark(on_time)}; "
            f"both: {mark(share <= TARGET_SHARE and bool(reaching) and covered == reaching)}"
        )
    for track in outcome.tracks:
        if track.failure is not None:
            first = track.failure.splitlines()[0]
            out.append(f"- {track.mode.label}: the tap failed, {first} **no**")
    return out


def check_lines(outcome: Outcome) -> list[str]:
    """What makes the numbers trustworthy."""
    runs = [
        run
        for track in finished(outcome)
        for run in [track.initial, *track.daily]
        if run is not None
    ]
    once = all(run.records == len(run.read) for run in runs)
    counted = [run for run in runs if run.counted is not None]
    rejected = [entry for run in runs for entry in run.rejected]
    out = [
        f"- every post read written once per run (tweets RECORDs = distinct ids): {mark(once)}",
        "- tweets RECORDs = the sync_runs record's own_posts_read + other_posts_read: "
        + (
            mark(all(run.counted == run.records for run in counted))
            + f" ({len(counted)} of {len(runs)} runs wrote a sync_runs record)"
            if counted
            else "no sync_runs record written"
        ),
        f"- the sandbox refused no request: {mark(not rejected)}"
        + (f" ({len(rejected)}: {', '.join(rejected[:3])})" if rejected else ""),
    ]
    for track in finished(outcome):
        wrong = [run.day for run in [track.initial, *track.daily] if run and not run.as_expected]
        out.append(
            f"- {track.mode.label}: every run read exactly the posts of the window arithmetic "
            + mark(not wrong)
            + (f" (not on days {', '.join(map(str, wrong))})" if wrong else "")
        )
        if track.mode.schedule and track.total == outcome.reference.total:
            out.append(
                f"  ({track.mode.label} read as many posts as {REFERENCE.label}: the tap may "
                "not apply the setting)"
            )
    if outcome.usage_counted:
        billed = [run for run in runs if run.billed is not None]
        out.append(
            "- the sandbox's billed count = the tap's posts read, every run: "
            + mark(all(run.billed == run.records for run in billed))
            + f" (sandbox billed {sum(run.billed or 0 for run in billed):,} over "
            f"{len(billed)} runs, the tap read {sum(run.records for run in billed):,})"
        )
    else:
        out.append("- the sandbox's billed count: not measured (the sandbox has no usage counter)")
    return out


def warning_lines(outcome: Outcome) -> list[str]:
    """The tap's WARNING lines, once each, per mode."""
    out = []
    for track in outcome.tracks:
        for text, count in track.warnings.most_common(5):
            out.append(f"- {track.mode.label}, {count} run(s): {text}")
    return out


def report(outcome: Outcome) -> str:
    """The Markdown report."""
    sizes = outcome.sizes
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    first, last = outcome.run_times[0], outcome.run_times[-1]
    lines = [
        "# Refresh benchmark: billed reads of the tap's refresh modes",
        "",
        f"Date: {now}. Machine: {machine()}. Took {outcome.seconds:.0f} s.",
        "",
        f"One account posting {sizes.posts_per_day} times a day, evenly over each UTC day, "
        f"{sizes.history_days} days of history; synced once a day for {sizes.days} simulated "
        f"days, after an initial sync ({first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC, "
        f"`start_date` {outcome.start_date:%Y-%m-%d}). Sandbox in-process (seed {SEED}), "
        "app-only bearer token, `exclude: []`, streams "
        + ", ".join(STREAMS)
        + "; the tap's clock travels to each run's instant. Posts read = tweets RECORD "
        "messages = what X bills (each post read once per run, each run on its own UTC day).",
        "",
        "## Reads per mode",
        "",
        *summary_rows(outcome),
        "",
        f"Daily runs only; the initial sync is apart. Ratio: reads over {sizes.days} days "
        f"over {REFERENCE.label}'s. $/month: the month's reads at ${OWN_PRICE:.3f} (a post of "
        f"the signed-in account's own timeline) and ${OTHER_PRICE:.3f} (any other post).",
        "",
        "## Coverage",
        "",
        *coverage_rows(outcome),
        "",
        "Ages at which the daily runs read posts (age = run instant - created_at). Posts "
        f"reaching {COVERAGE_DAYS} days: those whose age passed {COVERAGE_DAYS} days between "
        "the initial sync and the last run; read at >= "
        f"{COVERAGE_DAYS} days: how many of them a daily run read at that age or older.",
        "",
        "## Targets",
        "",
        *target_lines(outcome),
        "",
        "## Checks",
        "",
        *check_lines(outcome),
        "",
    ]
    if warnings := warning_lines(outcome):
        lines += ["## Tap warnings", "", *warnings, ""]
    lines += [
        "## Per run",
        "",
        *per_run_rows(outcome),
        "",
        "Posts read by each run; where the window arithmetic gives other posts, or the "
        "sandbox billed another count, that follows in brackets.",
        "",
        "## Window arithmetic",
        "",
        "- `lookback_days: N`: the posts created from the bookmark (the newest created_at "
        "read so far) minus N days, up to the run; N = 0: the posts newer than the bookmark.",
        "- `refresh_ages_days: [...]`: the posts newer than the bookmark, and for each age p "
        "those created in [previous run - p days, this run - p days]; overlapping windows "
        "read once.",
        "- The initial sync: every post from `start_date` to the run. No run reads a post "
        "created before `start_date`.",
        "",
    ]
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------


def run(sizes: Sizes, modes: Sequence[Mode], workdir: Path) -> Outcome:
    """Simulate the days and measure every mode."""
    started = time.perf_counter()
    chosen = list(dict.fromkeys([REFERENCE, *modes]))
    simulation = Simulation(workdir, sizes, chosen)
    simulation.run()
    return Outcome(
        sizes=sizes,
        tracks=simulation.tracks,
        day0=simulation.day0,
        start_date=simulation.start_date,
        run_times=simulation.run_times,
        posts=simulation.posts(),
        usage_counted=any(
            run.billed is not None for track in simulation.tracks for run in track.daily
        ),
        seconds=time.perf_counter() - started,
    )


def execute(argv: Sequence[str] | None = None) -> tuple[Outcome, str]:
    """Parse the command line, run, write the report; the outcome and the report."""
    parser = argparse.ArgumentParser(
        description="Billed reads of the tap's refresh modes over simulated daily runs, "
        "as a Markdown report.",
        epilog="Default modes: " + ", ".join(DEFAULT_MODES) + ".",
    )
    parser.add_argument(
        "--mode",
        action="append",
        type=parse_mode,
        default=None,
        help="lookback_days=N or refresh_ages_days=A,B,...; repeatable "
        "(lookback_days=7 is always measured)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK.days} simulated days, shorter history"
    )
    parser.add_argument("--days", type=int, default=None, help="simulated days (default 30)")
    add_output_argument(parser, RESULTS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.days is not None:
        if args.days < 1:
            parser.error("--days must be at least 1")
        sizes = Sizes(
            days=args.days,
            history_days=max(sizes.history_days, START_DAYS + 2),
            posts_per_day=sizes.posts_per_day,
        )
    modes = args.mode or [parse_mode(text) for text in DEFAULT_MODES]
    output = args.output or (None if args.quick else RESULTS)
    with tempfile.TemporaryDirectory(prefix="tap-refresh-") as tmp:
        outcome = run(sizes, modes, Path(tmp))
    text = report(outcome)
    if output:
        output.write_text(text)
    return outcome, text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    outcome, text = execute(argv)
    sys.stdout.write(text)
    sys.stdout.flush()
    progress(f"done in {outcome.seconds:.0f} s")
    return 1 if any(track.failure for track in outcome.tracks) else 0


if __name__ == "__main__":
    sys.exit(main())
