"""The one pass over the X API that feeds every stream: it reads, parses and yields pages.

Posts are read once per run: a timeline page or a lookup batch brings the posts, their
media, their authors and every selected metric family in one response. Private families
are asked for only where the API can grant them, because a refused private field makes
the API drop the whole post from the response. What becomes of a page is the streams'
business (streams.py): nothing here writes a message.
"""

from __future__ import annotations

import itertools
import typing as t
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import cached_property

from tap_twitter_metrics import analytics
from tap_twitter_metrics.accounts import (
    PARTIAL_ERROR_KINDS,
    UNREACHABLE_KINDS,
    Account,
    Roster,
)
from tap_twitter_metrics.analytics import OwnPosts
from tap_twitter_metrics.billing import Budget, Reads
from tap_twitter_metrics.records import Page, observed_now, parse_analytics, parse_page
from tap_twitter_metrics.selection import MAX_IDS
from tap_twitter_metrics.windows import Span, TimelineRead, api_time, snowflake_time

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from tap_twitter_metrics.analytics import Window
    from tap_twitter_metrics.catalogue import StreamSpec
    from tap_twitter_metrics.client import RunStats, XApiClient
    from tap_twitter_metrics.records import AnalyticsPage, Problem
    from tap_twitter_metrics.selection import Selection
    from tap_twitter_metrics.values import ValueNote

PRIVATE_DAYS = 30
# Posts this close to the 30-day edge may cross it before the request lands.
PRIVATE_MARGIN = timedelta(hours=1)
LOOKUP_WORKERS = 4
PAGE_SIZE = 100
# The timeline's smallest max_results: a cap leaving room for fewer posts stops the run.
MIN_PAGE_SIZE = 5
# The timeline refuses a start_time before this instant.
OLDEST_START_TIME = datetime(2010, 11, 6, 0, 0, 1, tzinfo=timezone.utc)


def span_params(span: Span) -> dict[str, str]:
    """The timeline parameters that bound a span: ids where known, else times."""
    params = {}
    if span.since_id:
        params["since_id"] = span.since_id
    elif span.start:
        params["start_time"] = api_time(max(span.start, OLDEST_START_TIME))
    if span.until_id:
        params["until_id"] = span.until_id
    elif span.end:
        params["end_time"] = api_time(span.end)
    return params


def describe_spans(spans: Sequence[Span]) -> str:
    """The spans read, for the account's log line."""
    if not spans:
        return "nothing to read"
    shown = []
    for span in spans:
        lower = api_time(span.lower) if span.lower else "the oldest post the API reaches"
        upper = f"to {api_time(span.upper)}" if span.upper else "on"
        shown.append(f"{lower} {upper}")
    return "from " + "; ".join(shown)


def refused_families(problems: Iterable[Problem]) -> frozenset[str]:
    """Private families named by field-authorization errors."""
    return frozenset(
        problem.field.split(".", 1)[0]
        for problem in problems
        if problem.refuses_field and problem.field
    )


def chunks(ids: Iterable[str], size: int = MAX_IDS) -> Iterator[list[str]]:
    """Consecutive lists of at most `size` ids, taken from any iterable."""
    batch: list[str] = []
    for post_id in ids:
        batch.append(post_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def unique(ids: list[str]) -> list[str]:
    """`ids` without repeats, in order; the list itself when it has none, the usual case."""
    ordered = sorted(ids)
    if any(left == right for left, right in itertools.pairwise(ordered)):
        return list(dict.fromkeys(ids))
    return ids


class Harvest:
    """Reads accounts, timelines and lookups, and yields each response as a parsed page."""

    def __init__(
        self,
        *,
        client: XApiClient,
        config: Mapping[str, t.Any],
        selection: Selection,
        user_context: bool,
        logger: logging.Logger,
        account_id: str | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.selection = selection
        self.user_context = user_context
        self.logger = logger
        self.stats: RunStats = client.stats
        self._read_in_timelines: set[str] = set()
        self.incomplete: set[str] = set()
        """Accounts whose timeline this run could not read to its end."""
        self._noted: set[tuple[str, str, str]] = set()
        self.reads = Reads()
        self._users_read: set[str] = set()
        self.budget = Budget(self.reads, config, logger)
        self.roster = Roster(
            client=client,
            config=config,
            selection=selection,
            user_context=user_context,
            budget=self.budget,
            logger=logger,
            own_id=account_id,
        )
        self.read: dict[str, TimelineRead] = {}
        """Per account read this run, its newest post and the spans the read cap left."""
        self.run_id = str(uuid.uuid4())
        self.started_at = observed_now()
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        """The run's now, in whole seconds: the refresh schedule's windows end here."""
        self.private_cutoff = self._private_cutoff()
        self.own_posts = OwnPosts()

    @cached_property
    def _wanted_ids(self) -> frozenset[str]:
        """The ids to look up, built only when a timeline is read in the same run."""
        return frozenset(self.config.get("tweet_ids") or ())

    @staticmethod
    def _private_cutoff() -> datetime:
        cutoff = datetime.now(timezone.utc) - timedelta(days=PRIVATE_DAYS) + PRIVATE_MARGIN
        return cutoff.replace(microsecond=0) + timedelta(seconds=1)

    # Accounts

    @property
    def _own_id(self) -> str | None:
        return self.roster.own_id

    def accounts(self) -> list[Account]:
        """The accounts whose timelines are read, resolved once per run."""
        return self.roster.accounts

    def account_pages(self) -> Iterator[Page]:
        """The pages read to resolve the accounts, each handed on once."""
        self.accounts()
        while self.roster.pages:
            yield self._hand_on(self.roster.pages.pop(0))

    # Timelines

    def timeline(self, account: Account, spans: Sequence[Span]) -> Iterator[Page]:
        """The pages of an account's timeline over `spans`, newest first, each post once.

        The newest post read and what the read cap leaves of the spans are kept in `read`.
        """
        yield from self.account_pages()
        if not self.selection.wants_posts:
            return
        requests_before, posts_before = self.stats.requests, self.reads.posts
        left = list(spans)
        # A post the API repeats (on two pages, or in two passes) is handed on once.
        seen: set[str] = set()
        while left and not self.budget.reached:
            oldest: str | None = None
            for page in self._timeline_passes(account, left[0], seen):
                if page.returned_ids:
                    page_oldest = min(page.returned_ids, key=int)
                    oldest = page_oldest if oldest is None else min(oldest, page_oldest, key=int)
                if self._wanted_ids:
                    # Posts handed on here are not bought again by the lookups.
                    self._read_in_timelines.update(self._wanted_ids.intersection(page.returned_ids))
                if account.id == self._own_id and self.selection.wants_analytics:
                    self.own_posts.note(page)
                yield page
                if not page.returned_ids and self._shows_unavailable(account, page):
                    return
            if self.budget.reached:
                left[0] = left[0].below(oldest) if oldest else left[0]
                break
            left.pop(0)
        self.read[account.id] = TimelineRead(max(seen, key=int) if seen else None, left)
        self._note_own_posts_read(account, spans, left)
        self.logger.info(
            "Account %s: %d posts read in %d requests, %s.",
            account.label,
            self.reads.posts - posts_before,
            self.stats.requests - requests_before,
            describe_spans(spans),
        )

    def _note_own_posts_read(
        self, account: Account, spans: Sequence[Span], left: Sequence[Span]
    ) -> None:
        """Tell the analytics streams from when on this run read the own posts."""
        # A span cut short at the cap stays in `left`: the first one was read whole when
        # fewer are left than were planned.
        whole = bool(spans) and spans[0].upper is None and len(left) < len(spans)
        if account.id == self._own_id and account.id not in self.incomplete and whole:
            self.own_posts.read_from = analytics.creation_time(spans[0].lower or OLDEST_START_TIME)

    def _shows_unavailable(self, account: Account, page: Page) -> bool:
        """Whether the page says the account itself is unknown or hidden."""
        about = [
            problem
            for problem in page.problems
            if problem.resource_id == account.id and problem.kind in UNREACHABLE_KINDS
        ]
        if about:
            self.roster.mark_unavailable(account.label, about)
            self.incomplete.add(account.id)
        return bool(about)

    def _timeline_passes(self, account: Account, span: Span, seen: set[str]) -> Iterator[Page]:
        for families, part in self._passes(account, span):
            for page in self._timeline_pass(account, families, part):
                repeated = seen.intersection(page.returned_ids)
                if repeated:
                    self._warn_repeated(account, repeated)
                seen.update(page.returned_ids)
                yield page.without_posts(repeated) if repeated else page

    def _passes(self, account: Account, span: Span) -> list[tuple[frozenset[str], Span]]:
        """The span in reads of one field set: private fields reach back only 30 days."""
        private = self._private_for(account.id)
        cutoff = self.private_cutoff
        lower, upper = span.lower, span.upper
        if not private or (lower is not None and lower >= cutoff):
            return [(private, span)]
        if upper is not None and upper < cutoff:
            return [(frozenset(), span)]
        recent = Span(start=cutoff, end=span.end, until_id=span.until_id)
        older = Span(start=span.start, end=cutoff, since_id=span.since_id)
        return [(private, recent), (frozenset(), older)]

    def _warn_repeated(self, account: Account, repeated: set[str]) -> None:
        self.logger.warning(
            "Account %s: the API sent posts again on a later page (%s); each is written once.",
            account.label,
            ", ".join(sorted(repeated)[:5]) + (" …" if len(repeated) > 5 else ""),
        )

    # The account's own posts, for the analytics streams

    def own_account(self) -> Account | None:
        """The signed-in account, with user-context credentials."""
        self.accounts()
        return Account(self._own_id, None) if self._own_id else None

    def own_posts_since(self, since: datetime) -> OwnPosts:
        """The own posts and videos read this run, from `since` on at least."""
        account = self.own_account()
        read_from = self.own_posts.read_from
        if account and (read_from is None or read_from > analytics.creation_time(since)):
            # Only when no timeline of this run covered them: these reads are billed.
            for page in self._timeline_pass(account, frozenset(), Span(start=since)):
                self.own_posts.note(page)
            self.own_posts.read_from = analytics.creation_time(since)
        return self.own_posts

    def analytics(
        self, stream: StreamSpec, resources: list[str], window: Window, granularity: str
    ) -> AnalyticsPage:
        """One analytics request: the buckets of up to 100 own posts or videos."""
        path, ids_param, fields_param = analytics.ENDPOINTS[stream.part]
        params = {
            ids_param: ",".join(resources),
            "start_time": api_time(window.start),
            "end_time": api_time(window.end),
            "granularity": granularity,
            fields_param: analytics.fields_to_ask(stream),
        }
        page = parse_analytics(
            self.client.get(path, params),
            stream,
            granularity=granularity,
            author_id=self._own_id,
            observed_at=observed_now(),
        )
        self._count_problems(page.problems)
        self.reads.analytics += page.resources
        return page

    def _private_for(self, author_id: str | None) -> frozenset[str]:
        if not self.user_context or (author_id is not None and author_id != self._own_id):
            return frozenset()
        return self.selection.private_families

    def _timeline_pass(
        self, account: Account, private: frozenset[str], span: Span
    ) -> Iterator[Page]:
        base = span_params(span)
        if exclude := self.config.get("exclude"):
            # X refuses a list parameter that repeats a value.
            base["exclude"] = ",".join(dict.fromkeys(exclude))
        path = f"/2/users/{account.id}/tweets"
        # The split passes overlap on the cutoff second: the private pass read those posts.
        before = span.end.strftime("%Y-%m-%dT%H:%M:%S.000Z") if span.end else None
        # X bills the posts of the signed-in account's own timeline at its lower price.
        own = self.user_context and account.id == self._own_id
        price = "price_per_own_post" if own else "price_per_post"
        token: str | None = None
        tokens_used: set[str] = set()
        while True:
            size = min(PAGE_SIZE, self.budget.room(price))
            if size < MIN_PAGE_SIZE:
                self.budget.stop()
                return
            paging = {**base, "max_results": str(size)}
            if token:
                paging["pagination_token"] = token

            def fetch(
                families: frozenset[str], paging: dict[str, str] = paging
            ) -> dict[str, t.Any]:
                return self.client.get(
                    path, {**paging, **self.selection.params(families, authors=False)}
                )

            pages = self._read_with_fallback(fetch, private)
            token = next((page.next_token for page in pages if page.next_token), None)
            for page in pages:
                yield self._hand_on(page.created_before(before), own_timeline=own)
            if token in tokens_used:
                self._stop_on_repeated_token(account)
            if not token or token in tokens_used:
                return
            tokens_used.add(token)

    def _stop_on_repeated_token(self, account: Account) -> None:
        self.incomplete.add(account.id)
        self.logger.warning(
            "Account %s: the API sent a next_token it had sent before; the timeline is read "
            "up to here and its bookmark stays where it was, so the next run reads it again.",
            account.label,
        )

    # Lookups

    def lookups(self) -> Iterator[Page]:
        """The pages of the posts named in `tweet_ids`."""
        yield from self.account_pages()
        ids = unique(self.config.get("tweet_ids") or [])
        if self._read_in_timelines:
            # Posts already read in a timeline this run are not bought twice.
            ids = [post_id for post_id in ids if post_id not in self._read_in_timelines]
        if not ids or not self.selection.wants_posts or self.budget.reached:
            return
        # The batches are read a few at once, so the cap is applied to the list up front.
        affordable = self.budget.room(*self._lookup_prices)
        if affordable < len(ids):
            ids = ids[:affordable]
            self.budget.stop()
        requests_before = self.stats.requests
        private = self._private_for(None)
        # Posts refused their private fields are read again with the older ones, in full
        # batches, rather than in a short extra request per batch.
        refused: list[str] = []
        posts_before = self.reads.posts
        if private:
            recent = chunks(post_id for post_id in ids if self._maybe_private(post_id))
            for batch, body in self._prefetch(recent, private):
                yield from self._lookup(batch, private, body, refused)
        rest = (post_id for post_id in ids if not private or not self._maybe_private(post_id))
        for batch, body in self._prefetch(chunks(itertools.chain(refused, rest)), frozenset()):
            yield from self._lookup(batch, frozenset(), body, refused)
        self.logger.info(
            "Looked up %d of %d posts by id in %d requests.",
            self.reads.posts - posts_before,
            len(ids),
            self.stats.requests - requests_before,
        )

    @property
    def _lookup_prices(self) -> tuple[str, ...]:
        """What one looked-up post may bring: itself, and its author when users are read."""
        return (
            ("price_per_post", "price_per_user")
            if self.selection.wants_users
            else ("price_per_post",)
        )

    def _prefetch(
        self, work: Iterable[list[str]], families: frozenset[str]
    ) -> Iterator[tuple[list[str], dict[str, t.Any]]]:
        """First responses of the lookup batches, fetched a few at a time, in order.

        Batches are independent, so a small pool hides the API's latency; results are
        handed over in the batches' order so the output stays deterministic.
        """
        upcoming = iter(work)
        head = list(itertools.islice(upcoming, 2))
        if len(head) < 2:
            for batch in head:
                yield batch, self._get_lookup(batch, families)
            return
        upcoming = itertools.chain(head, upcoming)
        pool = ThreadPoolExecutor(max_workers=LOOKUP_WORKERS, thread_name_prefix="lookup")
        try:
            queued: deque[tuple[list[str], Future[dict[str, t.Any]]]] = deque(
                (batch, pool.submit(self._get_lookup, batch, families))
                for batch in itertools.islice(upcoming, LOOKUP_WORKERS * 2)
            )
            while queued:
                batch, future = queued.popleft()
                if (following := next(upcoming, None)) is not None:
                    queued.append((following, pool.submit(self._get_lookup, following, families)))
                yield batch, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _get_lookup(self, ids: list[str], families: frozenset[str]) -> dict[str, t.Any]:
        return self.client.get(
            "/2/tweets", {"ids": ",".join(ids), **self.selection.params(families, authors=True)}
        )

    def _maybe_private(self, post_id: str) -> bool:
        if not (self.user_context and self.selection.private_families):
            return False
        created = snowflake_time(post_id)
        return created is None or created >= self.private_cutoff

    def _lookup(
        self,
        ids: list[str],
        private: frozenset[str],
        body: dict[str, t.Any],
        refused: list[str],
    ) -> Iterator[Page]:
        """Pages of one batch; ids left to read with public fields only go to `refused`."""
        pending = ids
        families = private
        while True:
            page = self._parse(body)
            yield self._hand_on(page)
            if not families:
                return
            settled = set(page.returned_ids) | {
                problem.resource_id
                for problem in page.problems
                if problem.kind in {"resource-not-found", "not-authorized-for-resource"}
            }
            pending = [post_id for post_id in pending if post_id not in settled]
            if not pending:
                return
            # Posts missing without a reason are read once more with public fields only.
            refusals = self._refusals(page) & families
            families = families - refusals if refusals else frozenset()
            if not families:
                refused.extend(pending)
                return
            body = self._get_lookup(pending, families)

    # Reading with the refused private fields left out

    def _read_with_fallback(
        self, fetch: Callable[[frozenset[str]], dict[str, t.Any]], private: frozenset[str]
    ) -> list[Page]:
        """Read, then read again without private families the API refused or blanked.

        Each read after the first is reduced to the posts the earlier reads lacked.
        """
        pages: list[Page] = []
        seen: set[str] = set()
        families = private
        while True:
            page = self._parse(fetch(families))
            page = page.without_posts(seen) if seen else page
            pages.append(page)
            seen.update(page.returned_ids)
            refusals = self._refusals(page) & families if families else frozenset()
            if not refusals:
                return pages
            families = families - refusals

    def _refusals(self, page: Page) -> frozenset[str]:
        refused = refused_families(page.problems)
        if "promoted_metrics" in self.selection.private_families and page.is_blank:
            # Never-promoted posts may blank the whole response instead of the field.
            refused |= {"promoted_metrics"}
        return refused

    # Handing on

    def _hand_on(self, page: Page, *, own_timeline: bool = False) -> Page:
        """Count what a page brings as it leaves the pass, and say what it had to change."""
        self._count_problems(page.problems)
        self.warn_notes(page.notes)
        own = len(page.tweets) if own_timeline else 0
        self.reads.own_posts += own
        self.reads.other_posts += len(page.tweets) - own
        users = {user["id"] for user in page.users}
        self.reads.users += len(users - self._users_read)
        self._users_read |= users
        return page

    def _parse(self, body: dict[str, t.Any]) -> Page:
        return parse_page(body, observed_now(), media_expanded=self.selection.wants_media)

    def warn_notes(self, notes: Iterable[ValueNote]) -> None:
        """One warning per value loaded otherwise than sent, once a run."""
        for note in notes:
            where = (note.kind, note.resource_id, note.field)
            if where not in self._noted:
                self._noted.add(where)
                self.logger.warning("Value changed to load: %s.", note)

    def _count_problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.stats.count_problem(problem.kind, problem.resource_id or "?")

    def summarize(self, records: Mapping[str, int]) -> None:
        """Close the run: one warning per kind of partial error, then one summary line."""
        for kind, tally in sorted(self.stats.problems.items()):
            more = tally.resources > len(tally.examples)
            shown = ", ".join(tally.examples) + (" …" if more else "")
            meaning = PARTIAL_ERROR_KINDS.get(kind, "skipped")
            self.logger.warning(
                "Partial errors '%s': %d resources %s: %s", kind, tally.resources, meaning, shown
            )
        stats = self.stats
        self.logger.info(
            "Sync done: %s; %d requests, %d retries, %d waits (%.0f s); records: %s.",
            self.reads.describe(self.config),
            stats.requests,
            stats.retries,
            stats.waits,
            stats.waited_seconds,
            ", ".join(f"{name}={count}" for name, count in records.items()),
        )
        self.roster.raise_unavailable("The other accounts were synced")

    def run_record(self) -> dict[str, t.Any]:
        """The run as one `sync_runs` record: what it did and what it likely costs."""
        stats, reads = self.stats, self.reads
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "ended_at": observed_now(),
            "accounts": [account.id for account in self.roster.accounts],
            "requests": stats.requests,
            "retries": stats.retries,
            "waits": stats.waits,
            "waited_seconds": round(stats.waited_seconds, 3),
            "own_posts_read": reads.own_posts,
            "other_posts_read": reads.other_posts,
            "accounts_read": reads.users,
            "analytics_resources_read": reads.analytics,
            "estimated_cost_usd": round(reads.cost(self.config), 6),
            "stopped_at_cap": self.budget.reached,
        }

    def check_connection(self) -> str:
        """Read one small page of each account (and of tweet_ids); say what came back."""
        seen = [f"signed in with {self.client.credential}"]
        for account in self.accounts():
            params = {"max_results": "5", **self.selection.params(frozenset(), authors=False)}
            body = self.client.get(f"/2/users/{account.id}/tweets", params)
            page = self._parse(body)
            if not self._shows_unavailable(account, page):
                seen.append(f"{account.label} shows {len(page.tweets)} recent posts")
        if ids := unique(self.config.get("tweet_ids") or [])[:5]:
            page = self._parse(self._get_lookup(ids, frozenset()))
            seen.append(f"{len(page.tweets)} of the first {len(ids)} tweet_ids found")
        self.roster.raise_unavailable("Nothing was synced")
        return "; ".join(seen)


class LazyHarvest:
    """The run's one pass, opened (and checked) when a stream first needs it."""

    def __init__(self, open_pass: Callable[[], Harvest]) -> None:
        self._open_pass = open_pass
        self.opened: Harvest | None = None

    def __call__(self) -> Harvest:
        """The pass, opened on first use."""
        if self.opened is None:
            self.opened = self._open_pass()
        return self.opened
