"""Console script `tap-twitter-metrics-sandbox`: serve the offline X API v2 emulator."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from typing import TYPE_CHECKING

from tap_twitter_metrics_sandbox import (
    CREDENTIALS,
    PAGINATION_FAULTS,
    SPELLINGS,
    USAGE_SHAPES,
    Sandbox,
    SandboxOptions,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="tap-twitter-metrics-sandbox",
        description="Serve an offline X API v2 emulator on 127.0.0.1 until SIGTERM/SIGINT.",
    )
    defaults = SandboxOptions()
    parser.add_argument("--port", type=int, default=8787, help="port (0: any free port)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--posts", type=int, default=defaults.posts, help="main account posts")
    parser.add_argument("--partner-posts", type=int, default=defaults.partner_posts)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        help="requests per window per route and token (default: the published limits)",
    )
    parser.add_argument("--window-seconds", type=float, default=defaults.window_seconds)
    parser.add_argument("--latency-ms", type=int, default=defaults.latency_ms)
    parser.add_argument(
        "--promoted-variant", choices=("absent", "blank"), default=defaults.promoted_variant
    )
    parser.add_argument(
        "--retweet-key", choices=("retweet_count", "repost_count"), default=defaults.retweet_key
    )
    parser.add_argument("--lookup-posts", type=int, default=defaults.lookup_posts)
    parser.add_argument("--oauth2-access-ttl", type=int, default=defaults.oauth2_access_ttl)
    parser.add_argument(
        "--not-found-variant", choices=("errors", "404"), default=defaults.not_found_variant
    )
    _add_analytics_flags(parser)
    _add_oddity_flags(parser, defaults)
    _add_usage_flag(parser, defaults)
    return parser


def _add_usage_flag(parser: argparse.ArgumentParser, defaults: SandboxOptions) -> None:
    """X's documents disagree on the shape of its usage endpoint's answer: serve either."""
    parser.add_argument(
        "--usage-shape",
        choices=USAGE_SHAPES,
        default=defaults.usage_shape,
        help="the shape of GET /2/usage/tweets: object (counts as strings, daily_project_usage"
        " an object) or list (counts as numbers, daily usage as a list of dates with"
        " tweets_consumed per app_id)",
    )


def _add_oddity_flags(parser: argparse.ArgumentParser, defaults: SandboxOptions) -> None:
    """Flags of the options that serve what a strict or broken X can send (all off)."""
    parser.add_argument(
        "--spelling",
        choices=SPELLINGS,
        default=defaults.spelling,
        help="the names served: 2.159 (retweet_count, tweet_count, edit_history_tweet_ids,"
        " referenced_tweets, api.twitter.com problems) or 2.167 (repost_count, post_count,"
        " edit_history_post_ids, referenced_posts, api.x.com problems, field-unauthorized,"
        " application/problem+json, post.fields taken)",
    )
    parser.add_argument(
        "--odd-text",
        action="store_true",
        help="six main-account posts carry emoji, right-to-left text, newlines and tabs, a NUL,"
        " a lone UTF-16 surrogate, NULs in entities; JSON is served as UTF-8",
    )
    parser.add_argument(
        "--poison-metrics",
        action="store_true",
        help='three posts serve like_count "12a", reply_count 3.5, impression_count 2**64+5;'
        ' the main account followers_count "many"; the usage endpoint project_cap "unlimited"',
    )
    parser.add_argument(
        "--pagination-fault",
        choices=PAGINATION_FAULTS,
        default=defaults.pagination_fault,
        help="break timeline paging: repeat-token (a paged request gets its own token back as"
        " next_token) or overlap (each page after the first repeats the previous last post)",
    )
    parser.add_argument(
        "--missing-media-include",
        action="store_true",
        help="one post lists a media key that includes.media leaves out",
    )


def _add_analytics_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--analytics-forbidden",
        action="store_true",
        help="answer the analytics endpoints with 403 Client Forbidden (client-not-enrolled)",
    )
    parser.add_argument(
        "--no-analytics-string-counter",
        dest="analytics_string_counter",
        action="store_false",
        help="serve no analytics counter as text",
    )


def _options(args: argparse.Namespace) -> SandboxOptions:
    """Return the sandbox options given on the command line (each flag is named after one)."""
    names = {option.name for option in dataclasses.fields(SandboxOptions)}
    return SandboxOptions(**{k: v for k, v in vars(args).items() if k in names})


def _stop_event() -> threading.Event:
    """Return an event SIGTERM and SIGINT set."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _announce(sandbox: Sandbox) -> None:
    """Print the URL on stdout, the account ids and credentials on stderr."""
    sys.stdout.write(sandbox.url + "\n")
    sys.stdout.flush()
    info = {
        "main_user_id": sandbox.world.main_user_id,
        "partner_user_id": sandbox.world.partner_user_id,
        "credentials": CREDENTIALS,
    }
    sys.stderr.write(json.dumps(info, indent=2) + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox: print its URL on stdout, credentials on stderr, serve until stopped."""
    args = build_parser().parse_args(argv)
    try:
        sandbox = Sandbox(_options(args), port=args.port).start()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"tap-twitter-metrics-sandbox: {exc}\n")
        return 2
    # Handlers go in before the URL is printed: whoever reads it may signal at once.
    stop = _stop_event()
    _announce(sandbox)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
