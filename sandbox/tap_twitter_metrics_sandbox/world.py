"""Deterministic generated data served by the sandbox: accounts, posts, media and metrics."""

from __future__ import annotations

import bisect
import gc
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tap_twitter_metrics_sandbox.analytics import (
    MEDIA_METRICS,
    TWEET_METRICS,
    Ledger,
    media_totals,
    media_track,
    post_track,
    report,
    spans,
    tweet_totals,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from tap_twitter_metrics_sandbox.analytics import Bucket

TWITTER_EPOCH_MS = 1288834974657
DAY_MS = 86_400_000

MAIN_USER_ID = "1500000000000000001"
PARTNER_USER_ID = "1500000000000000002"
MAIN_USERNAME = "sandbox_brand"
PARTNER_USERNAME = "sandbox_partner"
PROTECTED_USER_ID = "1500000000000000009"

THIRD_USERS: tuple[tuple[str, str, str], ...] = (
    ("1500000000000000003", "sandbox_fan_one", "Fan One"),
    ("1500000000000000004", "sandbox_fan_two", "Fan Two"),
    ("1500000000000000005", "sandbox_newsroom", "Sandbox Newsroom"),
    ("1500000000000000006", "sandbox_critic", "The Critic"),
    ("1500000000000000007", "sandbox_bot", "Helpful Bot"),
)

TOPICS = (
    "launch",
    "roadmap",
    "webinar",
    "release",
    "hiring",
    "survey",
    "case study",
    "tips",
    "events",
    "community",
)

_EMPTY: dict[str, int] = {}

# The texts the odd-text posts carry (Oddities.odd_text), by kind. X counts and cuts text in
# UTF-16 units: a text cut inside a surrogate pair keeps a lone high surrogate, which X sends
# as the JSON escape \ud83d.
ODD_TEXTS: dict[str, str] = {
    "emoji": "Launch day \U0001f680\U0001f389 thanks \u2764\ufe0f \U0001f44d\U0001f3fd"
    " \U0001f469\u200d\U0001f4bb \U0001f1fa\U0001f1e6",
    "rtl": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"
    " \u200f- \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd (hello world)",
    "whitespace": "Line one\nLine two\n\tindented by a tab\r\nlast line\t",
    "nul": "Before a NUL\x00after it",
    "lone_surrogate": "Cut off mid-emoji \ud83d",
    "entity_nul": "Entities with a NUL: #launchday @sandbox_fan_one",
}
# What poison_metrics serves in place of a figure: (path in the rendered object, value).
POISONED_POST_VALUES: tuple[tuple[str, Any], ...] = (
    ("public_metrics.like_count", "12a"),
    ("public_metrics.reply_count", 3.5),
    ("public_metrics.impression_count", 2**64 + 5),
)
POISONED_USER_VALUE: tuple[str, Any] = ("public_metrics.followers_count", "many")


@dataclass(frozen=True)
class Oddities:
    """Broken or unusual data a few chosen posts of the main account carry; all off by default.

    The same posts are chosen whichever of them is on, from a stream of their own: the rest
    of the world stays as the seed makes it. `odd_text`: six plain posts (originals without a
    link, recent ones first) get the ODD_TEXTS; the "entity_nul" one gets a hashtag and a
    mention whose tag and username hold a NUL. `poison_metrics`: three more posts serve the
    POISONED_POST_VALUES, the main account its POISONED_USER_VALUE. `missing_media_include`:
    one original photo post keeps its first media key in `attachments.media_keys` while
    `includes.media` leaves that media out.
    """

    odd_text: bool = False
    poison_metrics: bool = False
    missing_media_include: bool = False

    @property
    def any(self) -> bool:
        """Whether any oddity is on."""
        return self.odd_text or self.poison_metrics or self.missing_media_include


def _nul_entities(text: str) -> dict[str, Any]:
    """The entities of the "entity_nul" text: a NUL in the hashtag's tag and the username."""
    tag = text.index("#launchday")
    mention = text.index("@sandbox_fan_one")
    return {
        "hashtags": [{"start": tag, "end": tag + 10, "tag": "launch\x00day"}],
        "mentions": [
            {
                "start": mention,
                "end": mention + 16,
                "username": "sandbox\x00fan_one",
                "id": "1500000000000000003",
            }
        ],
    }


def snowflake(ms: int, seq: int) -> int:
    """Return the post id X would mint at epoch milliseconds `ms` with sequence bits `seq`."""
    return ((ms - TWITTER_EPOCH_MS) << 22) | (seq & 0x3FFFFF)


def api_time(ms: int) -> str:
    """Format epoch milliseconds the way the API does: `2024-05-01T12:00:00.000Z`."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(slots=True)
class User:
    """An account."""

    id: str
    username: str
    name: str
    created_at: datetime
    description: str
    protected: bool
    verified: bool
    location: str | None
    url: str | None
    profile_image_url: str
    public_metrics: dict[str, int]

    @property
    def created_at_api(self) -> str:
        """The creation time formatted like the API."""
        return api_time(int(self.created_at.timestamp() * 1000))


@dataclass(slots=True)
class Media:
    """A photo, video or animated GIF; one object however many posts carry it."""

    media_key: str
    type: str
    width: int
    height: int
    url: str | None = None
    preview_image_url: str | None = None
    duration_ms: int | None = None
    alt_text: str | None = None
    variants: list[dict[str, Any]] | None = None
    public_metrics: dict[str, int] | None = None
    non_public_metrics: dict[str, int] | None = None
    organic_metrics: dict[str, int] | None = None
    promoted_metrics: dict[str, int] | None = None

    @property
    def has_metrics(self) -> bool:
        """Whether the API reports metrics for this media (videos only)."""
        return self.type == "video"


@dataclass(slots=True)
class Post:
    """A post (tweet) with every field and metric family the sandbox can serve."""

    id: str
    author_id: str
    created_ms: int
    text: str
    kind: str
    conversation_id: str
    lang: str = "en"
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[dict[str, str]] | None = None
    media_keys: list[str] = field(default_factory=list)
    possibly_sensitive: bool = False
    reply_settings: str = "everyone"
    entities: dict[str, Any] | None = None
    has_link: bool = False
    public_metrics: dict[str, int] = field(default_factory=dict)
    non_public_metrics: dict[str, int] = field(default_factory=dict)
    organic_metrics: dict[str, int] = field(default_factory=dict)
    promoted_metrics: dict[str, int] | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def id_int(self) -> int:
        """The id as an integer (ordering key)."""
        return int(self.id)

    @property
    def created_at(self) -> datetime:
        """The creation time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.created_ms / 1000, tz=timezone.utc)

    @property
    def created_at_api(self) -> str:
        """The creation time formatted like the API: `2024-05-01T12:00:00.000Z`."""
        return api_time(self.created_ms)

    @property
    def is_retweet(self) -> bool:
        """Whether the post is a retweet (repost)."""
        return self.kind == "retweet"

    @property
    def is_reply(self) -> bool:
        """Whether the post is a reply."""
        return self.kind == "reply"

    @property
    def promoted(self) -> bool:
        """Whether the post was ever promoted."""
        return self.promoted_metrics is not None


class Timeline:
    """An account's posts, newest first, with a bisectable key list."""

    __slots__ = ("neg_ids", "posts")

    def __init__(self, posts: list[Post]) -> None:
        self.posts = sorted(posts, key=lambda p: -p.id_int)
        self.neg_ids = [-p.id_int for p in self.posts]

    def first_index_below(self, upper_exclusive: int) -> int:
        """Index of the first (newest) post whose id is < `upper_exclusive`."""
        return bisect.bisect_right(self.neg_ids, -upper_exclusive)

    def first_index_at_or_below(self, bound: int) -> int:
        """Index of the first post whose id is <= `bound`."""
        return bisect.bisect_left(self.neg_ids, -bound)


class _Ids:
    """Hands out unique snowflakes."""

    def __init__(self) -> None:
        self.seq = 0
        self.used: set[int] = set()

    def make(self, ms: int) -> int:
        while True:
            self.seq = (self.seq + 1) & 0x3FFFFF
            value = snowflake(ms, self.seq)
            if value not in self.used:
                self.used.add(value)
                return value


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")  # noqa: S311 -- reproducible data, not secrets


def derive_public(post: Post) -> None:
    """Recompute the public and non-public families from the organic and promoted parts."""
    org = post.organic_metrics
    pro = post.promoted_metrics or _EMPTY
    retweets = org.get("retweet_count", 0) + pro.get("retweet_count", 0)
    replies = org.get("reply_count", 0) + pro.get("reply_count", 0)
    likes = org.get("like_count", 0) + pro.get("like_count", 0)
    impressions = org.get("impression_count", 0) + pro.get("impression_count", 0)
    profile = org.get("user_profile_clicks", 0) + pro.get("user_profile_clicks", 0)
    links = org.get("url_link_clicks", 0) + pro.get("url_link_clicks", 0)
    extra = post.extra
    quotes = extra.get("quote_count", 0)
    bookmarks = extra.get("bookmark_count", 0)
    post.public_metrics = {
        "retweet_count": retweets,
        "reply_count": replies,
        "like_count": likes,
        "quote_count": quotes,
        "bookmark_count": bookmarks,
        "impression_count": impressions,
    }
    engagements = (
        retweets
        + replies
        + likes
        + quotes
        + bookmarks
        + profile
        + links
        + extra.get("detail_expands", 0)
    )
    non_public = {
        "impression_count": impressions,
        "user_profile_clicks": profile,
        "engagements": engagements,
    }
    if post.has_link:
        non_public["url_link_clicks"] = links
    post.non_public_metrics = non_public


def _family(rng: random.Random, scale: float, has_link: bool) -> dict[str, int]:
    impressions = int(scale * rng.uniform(200, 4000)) + 20
    fam = {
        "impression_count": impressions,
        "like_count": int(impressions * rng.uniform(0.005, 0.04)),
        "reply_count": int(impressions * rng.uniform(0.0, 0.006)),
        "retweet_count": int(impressions * rng.uniform(0.0, 0.01)),
        "user_profile_clicks": int(impressions * rng.uniform(0.0, 0.01)),
    }
    if has_link:
        fam["url_link_clicks"] = int(impressions * rng.uniform(0.002, 0.03))
    return fam


def _post_metrics(rng: random.Random, post: Post, promoted: bool) -> None:
    scale = 0.3 if post.kind == "retweet" else 1.0
    post.organic_metrics = _family(rng, scale, post.has_link)
    post.promoted_metrics = _family(rng, 2.5, post.has_link) if promoted else None
    imp = post.organic_metrics["impression_count"]
    post.extra = {
        "quote_count": int(imp * rng.uniform(0.0, 0.002)),
        "bookmark_count": int(imp * rng.uniform(0.0, 0.004)),
        "detail_expands": int(imp * rng.uniform(0.0, 0.02)),
    }


def _video_family(rng: random.Random, scale: float) -> dict[str, int]:
    p0 = int(scale * rng.uniform(100, 3000)) + 5
    p25 = int(p0 * rng.uniform(0.4, 0.8))
    p50 = int(p25 * rng.uniform(0.4, 0.9))
    p75 = int(p50 * rng.uniform(0.4, 0.9))
    p100 = int(p75 * rng.uniform(0.3, 0.9))
    return {
        "playback_0_count": p0,
        "playback_25_count": p25,
        "playback_50_count": p50,
        "playback_75_count": p75,
        "playback_100_count": p100,
        "view_count": int(p0 * rng.uniform(0.5, 0.9)),
    }


def derive_media(media: Media) -> None:
    """Recompute a video's public and non-public families from organic and promoted parts."""
    if media.organic_metrics is None:
        return
    org = media.organic_metrics
    pro = media.promoted_metrics or {}
    media.public_metrics = {"view_count": org["view_count"] + pro.get("view_count", 0)}
    media.non_public_metrics = {
        f"playback_{q}_count": org[f"playback_{q}_count"] + pro.get(f"playback_{q}_count", 0)
        for q in (0, 25, 50, 75, 100)
    }


def _whole_second(ms: int) -> int:
    return ms - ms % 1000


def _with_link(text: str, pid: str, path: str) -> tuple[str, dict[str, Any]]:
    """Append a post's t.co link to `text`; return the new text and the link's url entity."""
    short = f"https://t.co/{pid[-10:]}"
    start = len(text) + 1
    entity = {
        "start": start,
        "end": start + len(short),
        "url": short,
        "expanded_url": f"https://example.com/{path}",
        "display_url": f"example.com/{path}",
    }
    return f"{text} {short}", entity


def _lean_family(rnd: Callable[[], float], has_link: bool) -> dict[str, int]:
    """An organic family for the lookup-only posts: one bare draw per figure."""
    impressions = 50 + int(4000 * rnd())
    fam = {
        "impression_count": impressions,
        "like_count": int(impressions * 0.04 * rnd()),
        "reply_count": int(impressions * 0.006 * rnd()),
        "retweet_count": int(impressions * 0.01 * rnd()),
        "user_profile_clicks": int(impressions * 0.01 * rnd()),
    }
    if has_link:
        fam["url_link_clicks"] = int(impressions * 0.03 * rnd())
    return fam


def _photo(rng: random.Random, mid: int) -> Media:
    return Media(
        media_key=f"3_{mid}",
        type="photo",
        width=rng.choice((1200, 1600, 2048)),
        height=rng.choice((675, 900, 1152)),
        url=f"https://pbs.twimg.com/media/S{mid:x}.jpg",
        alt_text=rng.choice((None, "A product photo", "Team at the booth")),
    )


def _animated_gif(mid: int) -> Media:
    return Media(
        media_key=f"16_{mid}",
        type="animated_gif",
        width=498,
        height=280,
        preview_image_url=f"https://pbs.twimg.com/tweet_video_thumb/G{mid:x}.jpg",
        variants=[
            {
                "bit_rate": 0,
                "content_type": "video/mp4",
                "url": f"https://video.twimg.com/tweet_video/G{mid:x}.mp4",
            }
        ],
    )


def _video(rng: random.Random, mid: int, *, promoted: bool) -> Media:
    media = Media(
        media_key=f"13_{mid}",
        type="video",
        width=1280,
        height=720,
        preview_image_url=f"https://pbs.twimg.com/ext_tw_video_thumb/{mid}/pu/img/v.jpg",
        duration_ms=rng.randint(5_000, 140_000),
        variants=_video_variants(mid),
        organic_metrics=_video_family(rng, 1.0),
        promoted_metrics=_video_family(rng, 2.0) if promoted else None,
    )
    derive_media(media)
    return media


def _video_variants(mid: int) -> list[dict[str, Any]]:
    base = f"https://video.twimg.com/ext_tw_video/{mid}/pu/vid"
    return [
        {
            "content_type": "application/x-mpegURL",
            "url": f"https://video.twimg.com/ext_tw_video/{mid}/pu/pl/v.m3u8",
        },
        {"bit_rate": 256000, "content_type": "video/mp4", "url": f"{base}/480x270/v.mp4"},
        {"bit_rate": 832000, "content_type": "video/mp4", "url": f"{base}/640x360/v.mp4"},
        {"bit_rate": 2176000, "content_type": "video/mp4", "url": f"{base}/1280x720/v.mp4"},
    ]


@dataclass(slots=True)
class _PostSpec:
    """The shape of a post to generate: kind, the post it points at, media, link, promotion."""

    kind: str = "original"
    target: Post | None = None
    media_kind: str | None = None
    link: bool = False
    promoted: bool = False
    shared_media: Media | None = None


def _references(pid: str, spec: _PostSpec) -> tuple[list[dict[str, str]] | None, str | None, str]:
    """Return a post's referenced_tweets, in_reply_to_user_id and conversation_id."""
    target = spec.target
    if spec.kind == "reply" and target is not None:
        return [{"type": "replied_to", "id": target.id}], target.author_id, target.conversation_id
    if spec.kind == "quote" and target is not None:
        return [{"type": "quoted", "id": target.id}], None, pid
    return None, None, pid


# Features every age group of an account shows at least once ("self": a reply to itself).
_RECENT_PLAN = ("video", "photo", "gif", "retweet", "reply", "link", "plain", "promoted", "self")
_OLD_PLAN = ("video", "photo", "gif", "retweet", "reply", "link", "plain")


def _force_features(
    rng: random.Random, recent_idx: list[int], old_idx: list[int]
) -> dict[int, str]:
    """Assign each planned feature to a random post of its age group: index -> plan item."""
    forced: dict[int, str] = {}
    for group, plan in ((recent_idx, _RECENT_PLAN), (old_idx, _OLD_PLAN)):
        picks = rng.sample(group, min(len(group), len(plan)))
        forced.update(zip(picks, plan, strict=False))
    return forced


def _shared_slots(
    rng: random.Random, recent_idx: list[int], old_idx: list[int], forced: dict[int, str]
) -> set[int]:
    """Pick the posts carrying the shared video: two recent and one old, none forced."""
    pool_r = [i for i in recent_idx if i not in forced]
    pool_o = [i for i in old_idx if i not in forced]
    return set(rng.sample(pool_r, min(2, len(pool_r))) + rng.sample(pool_o, min(1, len(pool_o))))


def _post_kind(roll: float, plan_item: str | None, *, shared: bool) -> str:
    if plan_item in ("retweet", "reply", "self"):
        return "reply" if plan_item == "self" else plan_item
    if plan_item is not None or shared:
        return "original"
    if roll < 0.10:
        return "retweet"
    if roll < 0.25:
        return "reply"
    if roll < 0.30:
        return "quote"
    return "original"


def _post_extras(
    rng: random.Random, plan_item: str | None, *, recent: bool
) -> tuple[str | None, bool, bool]:
    """Return (media kind, link, promoted) of a post that is not a retweet."""
    mroll = rng.random()
    media_kind = {"video": "video", "photo": "photo", "gif": "animated_gif"}.get(plan_item or "")
    if plan_item is None:
        if mroll < 0.22:
            media_kind = "photo"
        elif mroll < 0.32:
            media_kind = "video"
        elif mroll < 0.36:
            media_kind = "animated_gif"
    link = plan_item == "link" or (plan_item is None and rng.random() < 0.3)
    promoted = recent and (plan_item == "promoted" or (plan_item is None and rng.random() < 0.2))
    return media_kind, link, promoted


class World:
    """Every account, post and media object the sandbox serves.

    Each part of the world draws from its own seeded stream, in a fixed order: reordering the
    draws, even within one post, changes the world every seed gives. Analytics draw from
    streams of their own, keyed by post id or media key, so they change none of the others.
    `string_counter` False turns off the one text counter of `string_counter_media_key`.

    `oddities` (see Oddities) marks the chosen posts in these attributes, empty or None when
    off: `odd_text_post_ids` (kind of ODD_TEXTS -> post id), `odd_texts` (post id -> text),
    `odd_entities` (post id -> entities), `poisoned_posts` (post id -> (path, value)),
    `poisoned_users` (user id -> (path, value)), `missing_media_post_id`, `missing_media_key`.
    """

    def __init__(
        self,
        *,
        seed: int,
        posts: int,
        partner_posts: int,
        lookup_posts: int,
        now: datetime,
        string_counter: bool = True,
        oddities: Oddities | None = None,
    ) -> None:
        self.seed = seed
        self.start_ms = int(now.timestamp()) * 1000
        self.main_user_id = MAIN_USER_ID
        self.partner_user_id = PARTNER_USER_ID
        self.users: dict[str, User] = {}
        self.posts: list[Post] = []
        self.posts_by_id: dict[str, Post] = {}
        self.media: dict[str, Media] = {}
        self.timelines: dict[str, Timeline] = {}
        self.username_index: dict[str, str] = {}
        self.advances = 0
        self.ledger = Ledger()
        self.string_counter = string_counter
        self._clock_ms = self.start_ms
        self._owners: dict[str, tuple[str, int]] = {}
        self._owners_at = -1
        self._ids = _Ids()
        self._foreign: list[Post] = []
        self._foreign_ms: list[int] = []
        self._build_without_gc(posts, partner_posts, lookup_posts)
        self._string_counter_key = self._pick_string_counter()
        self._mark_oddities(oddities or Oddities())

    def _build_without_gc(self, posts: int, partner_posts: int, lookup_posts: int) -> None:
        # Generation allocates many small dicts; cyclic GC passes would dominate its cost.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(posts, partner_posts, lookup_posts)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _build(self, posts: int, partner_posts: int, lookup_posts: int) -> None:
        seed = self.seed
        self._build_users()
        self._gen_foreign(_rng(seed, "foreign"), max(30, posts // 6))
        self._gen_account(_rng(seed, "main"), MAIN_USER_ID, posts, shared_video=True)
        self._gen_account(_rng(seed, "partner"), PARTNER_USER_ID, partner_posts, shared_video=False)
        self._gen_protected(_rng(seed, "protected"))
        self._gen_lookup(_rng(seed, "lookup"), lookup_posts)
        self._rebuild_timelines()
        for uid in (MAIN_USER_ID, PARTNER_USER_ID):
            self.users[uid].public_metrics["tweet_count"] = len(self.timelines[uid].posts)

    # --- accounts -------------------------------------------------------------------------

    def _add_user(self, user: User) -> None:
        self.users[user.id] = user
        self.username_index[user.username.lower()] = user.id

    def _build_users(self) -> None:
        rng = _rng(self.seed, "users")

        def metrics() -> dict[str, int]:
            return {
                "followers_count": rng.randint(100, 90_000),
                "following_count": rng.randint(10, 2_000),
                "tweet_count": rng.randint(100, 20_000),
                "listed_count": rng.randint(0, 400),
                "like_count": rng.randint(0, 30_000),
            }

        def created(year: int) -> datetime:
            return datetime(year, rng.randint(1, 12), rng.randint(1, 28), tzinfo=timezone.utc)

        specs: list[tuple[str, str, str, bool]] = [
            (MAIN_USER_ID, MAIN_USERNAME, "Sandbox Brand", False),
            (PARTNER_USER_ID, PARTNER_USERNAME, "Sandbox Partner", False),
            *((uid, handle, name, False) for uid, handle, name in THIRD_USERS),
            (PROTECTED_USER_ID, "sandbox_locked", "Locked Account", True),
        ]
        for uid, handle, name, protected in specs:
            self._add_user(
                User(
                    id=uid,
                    username=handle,
                    name=name,
                    created_at=created(2012 + int(uid[-1])),
                    description=f"{name}: an account of the offline X API sandbox.",
                    protected=protected,
                    verified=uid == MAIN_USER_ID,
                    location="Sandbox City" if uid in (MAIN_USER_ID, PARTNER_USER_ID) else None,
                    url="https://t.co/sandboxurl" if uid == MAIN_USER_ID else None,
                    profile_image_url=f"https://pbs.twimg.com/profile_images/{uid}/p_normal.jpg",
                    public_metrics=metrics(),
                )
            )

    # --- posts ----------------------------------------------------------------------------

    def _add(self, post: Post) -> None:
        self.posts.append(post)
        self.posts_by_id[post.id] = post

    def _new_media(self, rng: random.Random, kind: str, ms: int, promoted: bool) -> Media:
        mid = self._ids.make(ms - rng.randint(5_000, 600_000))
        if kind == "photo":
            media = _photo(rng, mid)
        elif kind == "animated_gif":
            media = _animated_gif(mid)
        else:
            media = _video(rng, mid, promoted=promoted)
        self.media[media.media_key] = media
        return media

    def _make_post(
        self, rng: random.Random, author_id: str, ms: int, number: int, spec: _PostSpec
    ) -> Post:
        pid = str(self._ids.make(ms))
        if spec.kind == "retweet" and spec.target is not None:
            return self._retweet(rng, pid, author_id, ms, spec.target)
        text, entities = self._compose(rng, pid, author_id, number, spec)
        referenced, reply_to, conversation = _references(pid, spec)
        media_keys = self._attach(rng, ms, spec)
        post = Post(
            id=pid,
            author_id=author_id,
            created_ms=ms,
            text=text,
            kind=spec.kind,
            conversation_id=conversation,
            in_reply_to_user_id=reply_to,
            referenced_tweets=referenced,
            media_keys=media_keys,
            possibly_sensitive=rng.random() < 0.02,
            reply_settings="everyone" if rng.random() < 0.9 else "following",
            entities=entities or None,
            has_link=spec.link,
            lang=rng.choice(("en", "en", "en", "en", "de", "fr")),
        )
        _post_metrics(rng, post, spec.promoted)
        derive_public(post)
        return post

    def _retweet(self, rng: random.Random, pid: str, author_id: str, ms: int, target: Post) -> Post:
        handle = self.users[target.author_id].username
        post = Post(
            id=pid,
            author_id=author_id,
            created_ms=ms,
            text=f"RT @{handle}: {target.text}"[:280],
            kind="retweet",
            conversation_id=pid,
            referenced_tweets=[{"type": "retweeted", "id": target.id}],
            entities={
                "mentions": [
                    {"start": 3, "end": 4 + len(handle), "username": handle, "id": target.author_id}
                ]
            },
        )
        _post_metrics(rng, post, promoted=False)
        derive_public(post)
        return post

    def _compose(
        self, rng: random.Random, pid: str, author_id: str, number: int, spec: _PostSpec
    ) -> tuple[str, dict[str, Any]]:
        """Return a post's text and entities: reply mention, body, hashtag, link."""
        topic = TOPICS[number % len(TOPICS)]
        entities: dict[str, Any] = {}
        text = f"{self.users[author_id].name} {topic} note {number}:"
        if spec.kind == "reply" and spec.target is not None:
            handle = self.users[spec.target.author_id].username
            mention = f"@{handle}"
            text = f"{mention} {text}"
            entities["mentions"] = [
                {"start": 0, "end": len(mention), "username": handle, "id": spec.target.author_id}
            ]
        text += " " + rng.choice(("Big news today.", "Thanks everyone!", "Read more below."))
        if rng.random() < 0.3:
            tag = topic.replace(" ", "")
            start = len(text) + 1
            text = f"{text} #{tag}"
            entities["hashtags"] = [{"start": start, "end": start + len(tag) + 1, "tag": tag}]
        if spec.link:
            text, url = _with_link(text, pid, f"{topic.replace(' ', '-')}/{number}")
            entities["urls"] = [url]
        return text, entities

    def _attach(self, rng: random.Random, ms: int, spec: _PostSpec) -> list[str]:
        """Return the media keys of a post, creating its media unless it carries a shared one."""
        if spec.shared_media is not None:
            return [spec.shared_media.media_key]
        if spec.media_kind == "photo":
            return [
                self._new_media(rng, "photo", ms, spec.promoted).media_key
                for _ in range(rng.choice((1, 1, 1, 2, 4)))
            ]
        if spec.media_kind is not None:
            return [self._new_media(rng, spec.media_kind, ms, spec.promoted).media_key]
        return []

    def _gen_foreign(self, rng: random.Random, count: int) -> None:
        third = [uid for uid, _h, _n in THIRD_USERS]
        for i in range(count):
            ms = _whole_second(self.start_ms - rng.randint(3_600_000, 160 * DAY_MS))
            media_kind = rng.choice((None, None, None, "photo", "video"))
            spec = _PostSpec(media_kind=media_kind, link=rng.random() < 0.3)
            post = self._make_post(rng, third[i % len(third)], ms, i, spec)
            self._foreign.append(post)
            self._add(post)
        self._foreign.sort(key=lambda p: p.created_ms)
        self._foreign_ms = [p.created_ms for p in self._foreign]

    def _older_foreign(self, rng: random.Random, ms: int) -> Post:
        idx = bisect.bisect_left(self._foreign_ms, ms)
        if idx == 0:
            return self._foreign[0]
        return self._foreign[rng.randrange(max(0, idx - 20), idx)]

    def _gen_account(
        self, rng: random.Random, author_id: str, count: int, *, shared_video: bool
    ) -> None:
        times = self._post_times(rng, count)
        recent_from = self.start_ms - 30 * DAY_MS
        recent_idx = [i for i, ms in enumerate(times) if ms >= recent_from]
        old_idx = [i for i, ms in enumerate(times) if ms < recent_from]
        forced = _force_features(rng, recent_idx, old_idx)
        shared = _shared_slots(rng, recent_idx, old_idx, forced) if shared_video else set()
        shared_media: Media | None = None
        own: list[Post] = []
        for i, ms in enumerate(times):
            recent = ms >= recent_from
            spec = self._account_spec(
                rng, ms, forced.get(i), own, recent=recent, shared=i in shared
            )
            if i in shared:
                if shared_media is None:
                    shared_media = self._new_media(rng, "video", ms, promoted=False)
                spec.shared_media = shared_media
                spec.promoted = False
            post = self._make_post(rng, author_id, ms, i, spec)
            own.append(post)
            self._add(post)

    def _post_times(self, rng: random.Random, count: int) -> list[int]:
        """Creation times, oldest first: a quarter within 26 days, the rest 34 to 120 days old."""
        n_recent = max(1, count // 4)
        ages = [
            rng.randint(120_000, 26 * DAY_MS)
            if i < n_recent
            else rng.randint(34 * DAY_MS, 120 * DAY_MS)
            for i in range(count)
        ]
        return sorted(_whole_second(self.start_ms - age) for age in ages)

    def _account_spec(
        self,
        rng: random.Random,
        ms: int,
        plan_item: str | None,
        own: list[Post],
        *,
        recent: bool,
        shared: bool,
    ) -> _PostSpec:
        """Shape one post of an account: forced by its plan item, else drawn at random."""
        kind = _post_kind(rng.random(), plan_item, shared=shared)
        spec = _PostSpec(kind=kind, target=self._target(rng, kind, plan_item, ms, own))
        if kind != "retweet":
            spec.media_kind, spec.link, spec.promoted = _post_extras(rng, plan_item, recent=recent)
        return spec

    def _target(
        self, rng: random.Random, kind: str, plan_item: str | None, ms: int, own: list[Post]
    ) -> Post | None:
        """The post a retweet, quote or reply points at; some replies answer the account itself."""
        target: Post | None = None
        if kind in ("retweet", "quote") or (kind == "reply" and plan_item != "self"):
            target = self._older_foreign(rng, ms)
        if kind == "reply" and (plan_item == "self" or (own and rng.random() < 0.3)):
            target = own[-1] if own else self._older_foreign(rng, ms)
        return target

    def _gen_protected(self, rng: random.Random) -> None:
        for i in range(3):
            ms = _whole_second(self.start_ms - rng.randint(DAY_MS, 60 * DAY_MS))
            self._add(self._make_post(rng, PROTECTED_USER_ID, ms, i, _PostSpec()))

    def _gen_lookup(self, rng: random.Random, count: int) -> None:
        """Extra foreign posts for id-lookup scale tests: a lean path, O(1) per post."""
        third = [(uid, name) for uid, _h, name in THIRD_USERS]
        span = 120 * DAY_MS
        for i in range(count):
            ms = _whole_second(self.start_ms - 60_000 - (span * (i + 1)) // (count + 1))
            author_id, name = third[i % len(third)]
            self._add(self._lookup_post(rng, i, ms, author_id, name))

    def _lookup_post(
        self, rng: random.Random, number: int, ms: int, author_id: str, name: str
    ) -> Post:
        rnd = rng.random
        pid = str(self._ids.make(ms))
        roll = rnd()
        link = roll < 0.25
        text = f"{name} {TOPICS[number % len(TOPICS)]} note {number}: archive sample."
        entities: dict[str, Any] | None = None
        if link:
            text, url = _with_link(text, pid, f"archive/{number}")
            entities = {"urls": [url]}
        organic = _lean_family(rnd, link)
        media_kind = "photo" if 0.88 <= roll < 0.96 else ("video" if roll >= 0.96 else None)
        media_keys: list[str] = []
        if media_kind is not None:
            media_keys.append(self._new_media(rng, media_kind, ms, promoted=False).media_key)
        post = Post(
            id=pid,
            author_id=author_id,
            created_ms=ms,
            text=text,
            kind="original",
            conversation_id=pid,
            media_keys=media_keys,
            entities=entities,
            has_link=link,
            organic_metrics=organic,
            extra={"quote_count": int(3 * rnd()), "bookmark_count": int(5 * rnd())},
        )
        derive_public(post)
        return post

    def _rebuild_timelines(self) -> None:
        by_author: dict[str, list[Post]] = {uid: [] for uid in self.users}
        for post in self.posts:
            by_author.setdefault(post.author_id, []).append(post)
        self.timelines = {uid: Timeline(posts) for uid, posts in by_author.items()}

    # --- oddities -------------------------------------------------------------------------

    def _mark_oddities(self, oddities: Oddities) -> None:
        """Choose the odd posts and give them what the options turned on (see Oddities)."""
        self.oddities = oddities
        self.odd_text_post_ids: dict[str, str] = {}
        self.odd_texts: dict[str, str] = {}
        self.odd_entities: dict[str, dict[str, Any]] = {}
        self.poisoned_posts: dict[str, tuple[str, Any]] = {}
        self.poisoned_users: dict[str, tuple[str, Any]] = {}
        self.missing_media_post_id: str | None = None
        self.missing_media_key: str | None = None
        if not oddities.any:
            return
        rng = _rng(self.seed, "oddities")
        plain = self._plain_posts(rng)
        odd = plain[: len(ODD_TEXTS)]
        poisoned = plain[len(ODD_TEXTS) : len(ODD_TEXTS) + len(POISONED_POST_VALUES)]
        carrier = self._photo_post(rng, {p.id for p in odd + poisoned})
        if oddities.odd_text:
            self._write_odd_texts(odd)
        if oddities.poison_metrics:
            self.poisoned_posts = dict(
                zip([p.id for p in poisoned], POISONED_POST_VALUES, strict=False)
            )
            self.poisoned_users = {MAIN_USER_ID: POISONED_USER_VALUE}
        if oddities.missing_media_include and carrier is not None:
            self.missing_media_post_id = carrier.id
            self.missing_media_key = carrier.media_keys[0]

    def _plain_posts(self, rng: random.Random) -> list[Post]:
        """The main account's originals without a link: recent ones first, each group shuffled."""
        recent_from = self.start_ms - 30 * DAY_MS
        plain = [
            p for p in self.timelines[MAIN_USER_ID].posts if p.kind == "original" and not p.has_link
        ]
        recent = [p for p in plain if p.created_ms >= recent_from]
        old = [p for p in plain if p.created_ms < recent_from]
        rng.shuffle(recent)
        rng.shuffle(old)
        return recent + old

    def _photo_post(self, rng: random.Random, taken: set[str]) -> Post | None:
        """An original of the main account whose first media is a photo (a recent one if any)."""
        photos = [
            p
            for p in self.timelines[MAIN_USER_ID].posts
            if p.kind == "original"
            and p.id not in taken
            and p.media_keys
            and self.media[p.media_keys[0]].type == "photo"
        ]
        recent = [p for p in photos if p.created_ms >= self.start_ms - 30 * DAY_MS]
        pool = recent or photos
        return rng.choice(pool) if pool else None

    def _write_odd_texts(self, posts: list[Post]) -> None:
        """Give each post its odd text (and no entities but the "entity_nul" post's)."""
        for (kind, text), post in zip(ODD_TEXTS.items(), posts, strict=False):
            post.text = text
            post.entities = _nul_entities(text) if kind == "entity_nul" else None
            self.odd_text_post_ids[kind] = post.id
            self.odd_texts[post.id] = text
            if post.entities is not None:
                self.odd_entities[post.id] = post.entities

    # --- queries --------------------------------------------------------------------------

    def timeline(self, user_id: str) -> list[Post]:
        """Return an account's posts, newest first."""
        tl = self.timelines.get(user_id)
        return list(tl.posts) if tl else []

    def post(self, post_id: str) -> Post | None:
        """Return the post with that id, if any."""
        return self.posts_by_id.get(post_id)

    def user_by_username(self, username: str) -> User | None:
        """Return the account with that handle (case-insensitive), if any."""
        uid = self.username_index.get(username.lower())
        return self.users.get(uid) if uid else None

    # --- evolution ------------------------------------------------------------------------

    def advance(self, *, new_posts: int, metric_growth: bool, now_ms: int) -> list[Post]:
        """Add `new_posts` posts by the main account created around `now_ms`; grow metrics.

        Metrics grow for posts younger than 7 days at `now_ms`; older posts keep their figures.
        Deterministic for the seed and the number of earlier advances.
        """
        self.advances += 1
        self._clock_ms = max(self._clock_ms, now_ms)
        rng = _rng(self.seed, f"advance:{self.advances}")
        created: list[Post] = []
        if metric_growth:
            self._grow(rng, now_ms)
        main_tl = self.timelines[MAIN_USER_ID]
        newest_ms = main_tl.posts[0].created_ms if main_tl.posts else 0
        base_s = now_ms // 1000 - max(0, new_posts - 1)
        for i in range(new_posts):
            ms = max((base_s + i) * 1000, newest_ms + 1000)
            roll = rng.random()
            media_kind = "photo" if roll < 0.3 else ("video" if roll < 0.5 else None)
            spec = _PostSpec(
                media_kind=media_kind, link=rng.random() < 0.4, promoted=rng.random() < 0.2
            )
            post = self._make_post(rng, MAIN_USER_ID, ms, 10_000 * self.advances + i, spec)
            newest_ms = ms
            self._add(post)
            created.append(post)
        if created:
            main_tl = Timeline(main_tl.posts + created)
            self.timelines[MAIN_USER_ID] = main_tl
            self.users[MAIN_USER_ID].public_metrics["tweet_count"] += len(created)
        return created

    def _grow(self, rng: random.Random, now_ms: int) -> None:
        """Grow posts younger than 7 days and their videos; note the growth in the ledger."""
        cutoff = now_ms - 7 * DAY_MS
        grown_media: set[str] = set()
        for post in self.posts:
            if post.created_ms < cutoff:
                continue
            before = tweet_totals(post)
            _grow_post(rng, post)
            self.ledger.record(post.id, now_ms, before, tweet_totals(post))
            for key in post.media_keys:
                media = self.media[key]
                if key in grown_media or not media.has_metrics:
                    continue
                grown_media.add(key)
                before = media_totals(media)
                _grow_media(rng, media)
                self.ledger.record(key, now_ms, before, media_totals(media))

    # --- analytics ------------------------------------------------------------------------

    @property
    def clock_ms(self) -> int:
        """The world's clock: its generation instant, or the latest advance's if later."""
        return self._clock_ms

    def now_ms(self) -> int:
        """The sandbox's now: the real clock, or the world's clock when an advance is later."""
        return max(int(time.time() * 1000), self._clock_ms)

    @property
    def string_counter_media_key(self) -> str | None:
        """The main account's video whose `watch_time_ms` is text in one bucket, if any.

        That bucket is the one holding the video's first publication (`media_owner`).
        """
        return self._string_counter_key if self.string_counter else None

    def _pick_string_counter(self) -> str | None:
        keys = sorted(
            {
                key
                for post in self.timelines[MAIN_USER_ID].posts
                for key in post.media_keys
                if self.media[key].has_metrics
            }
        )
        return _rng(self.seed, "analytics:string-counter").choice(keys) if keys else None

    def _owner_index(self) -> dict[str, tuple[str, int]]:
        """Media key -> (author, creation) of its earliest post; rebuilt when posts are added."""
        if self._owners_at != len(self.posts):
            owners: dict[str, tuple[str, int]] = {}
            for post in self.posts:
                for key in post.media_keys:
                    seen = owners.get(key)
                    if seen is None or post.created_ms < seen[1]:
                        owners[key] = (post.author_id, post.created_ms)
            self._owners, self._owners_at = owners, len(self.posts)
        return self._owners

    def media_owner(self, media_key: str) -> tuple[str, int] | None:
        """(author id, creation ms) of the earliest post carrying the media, if any."""
        return self._owner_index().get(media_key)

    def videos_of(self, user_id: str) -> list[str]:
        """Media keys of the account's videos (analytics resources), first published first."""
        found = [
            (created, key)
            for key, (owner, created) in self._owner_index().items()
            if owner == user_id and self.media[key].has_metrics
        ]
        return [key for _created, key in sorted(found)]

    def tweet_analytics(
        self,
        post_id: str,
        granularity: str,
        start_ms: int,
        end_ms: int,
        now_ms: int,
        *,
        fields: Collection[str] = TWEET_METRICS,
    ) -> list[Bucket]:
        """The buckets of a post as GET /2/tweets/analytics reports them at `now_ms`.

        (timestamp, figures) for each bucket overlapping [start_ms, end_ms), from the
        creation's to now's; `total` is one bucket stamped start_ms. From the creation on, the
        buckets add up to the current totals when `now_ms` is not before `clock_ms`. KeyError
        for an unknown post.
        """
        post = self.posts_by_id[post_id]
        growth = self.ledger.of(post_id)
        rng = _rng(self.seed, f"analytics:{post_id}")
        track = post_track(post, rng, growth, fields, generated_ms=self.start_ms)
        return report(track, spans(granularity, start_ms, end_ms, post.created_ms, now_ms), fields)

    def media_analytics(
        self,
        media_key: str,
        granularity: str,
        start_ms: int,
        end_ms: int,
        now_ms: int,
        *,
        fields: Collection[str] = MEDIA_METRICS,
    ) -> list[Bucket]:
        """The buckets of a video as GET /2/media/analytics reports them at `now_ms`.

        The video's first bucket is that of its earliest post. KeyError for a media key that
        is no video carried by a post.
        """
        owner = self.media_owner(media_key)
        media = self.media[media_key]
        if owner is None or not media.has_metrics:
            raise KeyError(media_key)
        created = owner[1]
        text_at = created if media_key == self.string_counter_media_key else None
        rng = _rng(self.seed, f"analytics:{media_key}")
        growth = self.ledger.of(media_key)
        track = media_track(
            media,
            rng,
            growth,
            fields,
            created_ms=created,
            generated_ms=self.start_ms,
            text_at=text_at,
        )
        return report(track, spans(granularity, start_ms, end_ms, created, now_ms), fields)

    # --- summaries ------------------------------------------------------------------------

    def summary(self, *, full: bool = False) -> dict[str, Any]:
        """Return a JSON-ready description of the world (all posts when `full`)."""
        shown = (
            self.posts
            if full
            else [p for p in self.posts if p.author_id in (MAIN_USER_ID, PARTNER_USER_ID)]
        )
        out: dict[str, Any] = {
            "seed": self.seed,
            "start": api_time(self.start_ms),
            "main_user_id": self.main_user_id,
            "partner_user_id": self.partner_user_id,
            "post_count": len(self.posts),
            "media_count": len(self.media),
            "users": self._user_summaries(),
            "posts": [
                {
                    "id": p.id,
                    "author_id": p.author_id,
                    "created_at": p.created_at_api,
                    "kind": p.kind,
                    "media_keys": list(p.media_keys),
                    "has_link": p.has_link,
                    "promoted": p.promoted,
                }
                for p in shown
            ],
        }
        if self.oddities.any:
            out["oddities"] = self._oddity_summary()
        return out

    def _user_summaries(self) -> list[dict[str, Any]]:
        return [
            {
                "id": u.id,
                "username": u.username,
                "name": u.name,
                "protected": u.protected,
                "public_metrics": dict(u.public_metrics),
            }
            for u in self.users.values()
        ]

    def _oddity_summary(self) -> dict[str, Any]:
        """Which posts are odd and how (the texts are in ODD_TEXTS)."""
        return {
            "odd_text_post_ids": dict(self.odd_text_post_ids),
            "poisoned_posts": {k: list(v) for k, v in self.poisoned_posts.items()},
            "poisoned_users": {k: list(v) for k, v in self.poisoned_users.items()},
            "missing_media_post_id": self.missing_media_post_id,
            "missing_media_key": self.missing_media_key,
        }


def _grow_post(rng: random.Random, post: Post) -> None:
    for fam in (post.organic_metrics, post.promoted_metrics):
        if not fam:
            continue
        fam["impression_count"] += rng.randint(10, 400)
        fam["like_count"] += rng.randint(0, 12)
        fam["reply_count"] += rng.randint(0, 3)
        fam["retweet_count"] += rng.randint(0, 4)
        fam["user_profile_clicks"] += rng.randint(0, 5)
        if "url_link_clicks" in fam:
            fam["url_link_clicks"] += rng.randint(0, 6)
    post.extra["quote_count"] = post.extra.get("quote_count", 0) + rng.randint(0, 2)
    post.extra["bookmark_count"] = post.extra.get("bookmark_count", 0) + rng.randint(0, 2)
    post.extra["detail_expands"] = post.extra.get("detail_expands", 0) + rng.randint(0, 9)
    derive_public(post)


def _grow_media(rng: random.Random, media: Media) -> None:
    for vfam in (media.organic_metrics, media.promoted_metrics):
        if not vfam:
            continue
        bump = rng.randint(5, 200)
        for name in vfam:
            vfam[name] += bump
            bump = int(bump * 0.7)
    derive_media(media)


def default_now() -> datetime:
    """Return the current UTC time truncated to the second."""
    now = datetime.now(tz=timezone.utc)
    return now - timedelta(microseconds=now.microsecond)
