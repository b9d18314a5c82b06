"""What X bills a run for: the resources it read, by kind, at the prices in the settings.

X bills pay-per-use by resource returned, deduplicated per UTC day. The estimate counts
each resource a run read once; a post another run read earlier the same UTC day is
counted again, so the estimate is an upper bound.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

# Setting -> (today's price in USD, what it is the price of).
PRICES: dict[str, tuple[float, str]] = {
    "price_per_post": (0.005, "a post read"),
    "price_per_own_post": (0.001, "a post of the signed-in account's own timeline"),
    "price_per_user": (0.010, "an account read"),
    "price_per_analytics_resource": (0.005, "a post or video returned by X's analytics"),
}


@dataclass
class Reads:
    """Resources one run read, by how X prices them."""

    own_posts: int = 0
    other_posts: int = 0
    users: int = 0
    analytics: int = 0

    @property
    def posts(self) -> int:
        """Posts read, own and other."""
        return self.own_posts + self.other_posts

    def cost(self, config: t.Mapping[str, t.Any]) -> float:
        """The estimated charge in USD, at the configured prices."""

        def price(setting: str) -> float:
            return float(config.get(setting, PRICES[setting][0]))

        return (
            self.own_posts * price("price_per_own_post")
            + self.other_posts * price("price_per_post")
            + self.users * price("price_per_user")
            + self.analytics * price("price_per_analytics_resource")
        )

    def describe(self, config: t.Mapping[str, t.Any]) -> str:
        """The reads and their estimated charge, for the closing summary line."""
        return (
            f"posts read: {self.posts} (own timeline {self.own_posts}, "
            f"other {self.other_posts}), accounts read: {self.users}, analytics resources "
            f"read: {self.analytics}, estimated charge: ${self.cost(config):.3f}"
        )
