"""What X bills a run for: the resources it read, by kind, at the prices in the settings.

X bills pay-per-use by resource returned, deduplicated per UTC day. The estimate counts
each resource a run read once; a post another run read earlier the same UTC day is
counted again, so the estimate is an upper bound.
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Sequence

UNCAPPED = 1 << 62
# Setting -> (today's price in USD, what it is the price of).
PRICES: dict[str, tuple[float, str]] = {
    "price_per_post": (0.005, "a post read"),
    "price_per_own_post": (0.001, "a post of the signed-in account's own timeline"),
    "price_per_user": (0.010, "an account read"),
    "price_per_analytics_resource": (0.005, "a post or video returned by X's analytics"),
}


def price(config: t.Mapping[str, t.Any], setting: str) -> float:
    """The configured price of one resource, in USD."""
    return float(config.get(setting, PRICES[setting][0]))


@dataclass
class Reads:
    """Resources one run read, by how X prices them."""

    own_posts: int = 0
    other_posts: int = 0
    users: int = 0
    analytics: int = 0

    @property
    def total(self) -> int:
        """Resources read, of every kind."""
        return self.own_posts + self.other_posts + self.users + self.analytics

    @property
    def posts(self) -> int:
        """Posts read, own and other."""
        return self.own_posts + self.other_posts

    def cost(self, config: t.Mapping[str, t.Any]) -> float:
        """The estimated charge in USD, at the configured prices."""
        return (
            self.own_posts * price(config, "price_per_own_post")
            + self.other_posts * price(config, "price_per_post")
            + self.users * price(config, "price_per_user")
            + self.analytics * price(config, "price_per_analytics_resource")
        )

    def describe(self, config: t.Mapping[str, t.Any]) -> str:
        """The reads and their estimated charge, for the closing summary line."""
        return (
            f"posts read: {self.posts} (own timeline {self.own_posts}, "
            f"other {self.other_posts}), accounts read: {self.users}, analytics resources "
            f"read: {self.analytics}, estimated charge: ${self.cost(config):.3f}"
        )


class Budget:
    """What a run may still read under max_billed_reads_per_run and max_cost_per_run_usd."""

    def __init__(self, reads: Reads, config: t.Mapping[str, t.Any], logger: logging.Logger) -> None:
        self.reads = reads
        self.config = config
        self.logger = logger
        self.max_reads: int | None = config.get("max_billed_reads_per_run")
        max_cost = config.get("max_cost_per_run_usd")
        self.max_cost = None if max_cost is None else float(max_cost)
        self.reached = False
        """Whether the run stopped reading at the cap."""

    def room(self, *prices: str) -> int:
        """How many more items fit, each bringing at most one resource of each price."""
        fits = UNCAPPED
        if self.max_reads is not None:
            fits = min(fits, (self.max_reads - self.reads.total) // len(prices))
        unit = sum(price(self.config, setting) for setting in prices)
        if self.max_cost is not None and unit > 0:
            left = self.max_cost - self.reads.cost(self.config)
            # A hair of slack: a price times a count is not exact in binary.
            fits = min(fits, math.floor(left / unit + 1e-9))
        return max(fits, 0)

    def batches(self, items: Sequence[str], *prices: str, size: int) -> Iterator[list[str]]:
        """Batches of up to `size` of `items` the caps allow; the rest stop the run's reads."""
        done = 0
        while done < len(items):
            fits = min(size, self.room(*prices))
            if not fits:
                self.stop()
                return
            yield list(items[done : done + fits])
            done += fits

    def stop(self) -> None:
        """Stop the run's reads: the next one could pass a cap. Says so once."""
        if self.reached:
            return
        self.reached = True
        self.logger.warning(
            "Stopped reading at the cap (%s): %d resources read, estimated charge $%.3f. What "
            "was read is written; accounts and streams not read to their end start where they "
            "stopped on the next run.",
            self.describe(),
            self.reads.total,
            self.reads.cost(self.config),
        )

    def describe(self) -> str:
        """The caps set, for the message of a run that reached one."""
        caps = []
        if self.max_reads is not None:
            caps.append(f"max_billed_reads_per_run {self.max_reads}")
        if self.max_cost is not None:
            caps.append(f"max_cost_per_run_usd {self.max_cost:g}")
        return " and ".join(caps)
