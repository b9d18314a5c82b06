"""Fault injection and rate limiting for the sandbox."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

FAULT_KINDS = frozenset(
    {
        "500",
        "503",
        "reset",
        "truncated",
        "invalid_json",
        "usage_cap",
        "rate_limit",
        "401",
        "403",
        "timeout",
    }
)

# Published per-15-minute limits: (app-only, user context).
PUBLISHED_LIMITS: dict[str, tuple[int, int]] = {
    "/2/tweets": (3500, 5000),
    "/2/tweets/:id": (450, 900),
    "/2/users/:id/tweets": (10000, 900),
    "/2/users/me": (75, 75),
    "/2/users/by/username/:username": (300, 900),
    "/2/users/by": (300, 900),
    "/2/users": (300, 900),
    "/2/users/:id": (300, 900),
    # User context only; the app-only figure only labels the 403 an app-only token gets.
    "/2/tweets/analytics": (300, 300),
    "/2/media/analytics": (300, 300),
    # Per app, app-only; the user figure only labels the 403 a user token gets.
    "/2/usage/tweets": (50, 50),
}
DEFAULT_LIMIT = (300, 900)


@dataclass
class Fault:
    """A fault that fires on the `nth` .. `nth + times - 1` matching requests after it was added.

    `route` is a route template such as `/2/users/:id/tweets`, or `*` for every API route.
    `times` below 1 means the fault keeps firing forever from the `nth` request on.
    """

    route: str
    kind: str
    nth: int = 1
    times: int = 1
    retry_after: int = 60
    delay: float = 5.0
    seen: int = 0

    def matches(self, route: str) -> bool:
        """Whether the fault applies to requests on `route`."""
        return self.route in ("*", route)


class FaultTable:
    """The faults waiting to fire; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Register a fault (validated)."""
        if fault.kind not in FAULT_KINDS:
            msg = f"unknown fault kind {fault.kind!r}; expected one of {sorted(FAULT_KINDS)}"
            raise ValueError(msg)
        if fault.nth < 1:
            msg = "nth is 1-based"
            raise ValueError(msg)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every fault."""
        with self._lock:
            self.faults.clear()

    def next_for(self, route: str) -> Fault | None:
        """Count a request on `route` against every matching fault; return the one that fires."""
        firing: Fault | None = None
        with self._lock:
            for fault in self.faults:
                if not fault.matches(route):
                    continue
                fault.seen += 1
                in_range = fault.seen >= fault.nth and (
                    fault.times < 1 or fault.seen < fault.nth + fault.times
                )
                if in_range and firing is None:
                    firing = fault
        return firing


@dataclass
class Window:
    """Rate-limit state for one route and token identity."""

    start: float
    count: int


class RateLimiter:
    """Fixed windows per route per token identity, like the real API's 15-minute windows."""

    def __init__(self, *, limit: int | None, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], Window] = {}

    def limit_for(self, route: str, user_context: bool) -> int:
        """Requests allowed per window on a route."""
        if self.limit is not None:
            return self.limit
        app, user = PUBLISHED_LIMITS.get(route, DEFAULT_LIMIT)
        return user if user_context else app

    def _window(self, key: tuple[str, str], now: float) -> Window:
        win = self._windows.get(key)
        if win is None or now >= win.start + self.window_seconds:
            win = Window(now, 0)
            self._windows[key] = win
        return win

    def hit(
        self, route: str, identity: str, user_context: bool, *, consume: bool = True
    ) -> tuple[bool, dict[str, str]]:
        """Count one request; return whether it is allowed and the rate-limit headers."""
        limit = self.limit_for(route, user_context)
        now = time.time()
        with self._lock:
            win = self._window((route, identity), now)
            allowed = win.count < limit
            if consume and allowed:
                win.count += 1
            remaining = max(0, limit - win.count)
            reset = math.ceil(win.start + self.window_seconds)
        return allowed, {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(reset),
        }
