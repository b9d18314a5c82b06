"""The accounts a run reads: the signed-in one, `user_ids` and `usernames`, resolved once.

Ids and handles are read 100 a request through the users endpoints, within the run's read
cap. An account X does not show is remembered with its reason: the run syncs the others,
then fails naming it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk.exceptions import FatalAPIError

from tap_twitter_metrics.records import Page, observed_now, parse_user_page
from tap_twitter_metrics.selection import MAX_IDS, USER_FIELDS

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    from tap_twitter_metrics.billing import Budget
    from tap_twitter_metrics.client import XApiClient
    from tap_twitter_metrics.records import Problem
    from tap_twitter_metrics.selection import Selection

PARTIAL_ERROR_KINDS = {
    "resource-not-found": "not found",
    "not-authorized-for-resource": "not visible (protected or suspended author)",
    "not-authorized-for-field": "read again without the private fields the API refused",
    "field-unauthorized": "read again without the private fields the API refused",
}
UNREACHABLE_KINDS = frozenset({"resource-not-found", "not-authorized-for-resource"})
# The closing error names this many unavailable accounts (each had its warning).
SHOWN_ACCOUNTS = 10


class AccountsUnavailableError(FatalAPIError):
    """Configured accounts X does not show: the run syncs the others, then fails."""


@dataclass(frozen=True)
class Account:
    """An account whose timeline is read."""

    id: str
    username: str | None

    @property
    def label(self) -> str:
        """How log lines name the account."""
        return f"@{self.username} ({self.id})" if self.username else self.id


class Roster:
    """The run's accounts, and the users pages read to find them, not yet handed on."""

    def __init__(
        self,
        *,
        client: XApiClient,
        config: Mapping[str, t.Any],
        selection: Selection,
        user_context: bool,
        budget: Budget,
        logger: logging.Logger,
        own_id: str | None,
    ) -> None:
        self.client = client
        self.config = config
        self.selection = selection
        self.user_context = user_context
        self.budget = budget
        self.logger = logger
        self.own_id = own_id
        """The signed-in account, known from the credential or from /2/users/me."""
        self.pages: list[Page] = []
        self.unavailable: dict[str, str] = {}
        """Configured accounts X did not show, and why."""
        self._accounts: list[Account] | None = None

    @property
    def accounts(self) -> list[Account]:
        """The accounts whose timelines are read, resolved on first use."""
        if self._accounts is None:
            self._accounts = self._resolve()
        return self._accounts

    def _resolve(self) -> list[Account]:
        user_ids: list[str] = list(dict.fromkeys(self.config.get("user_ids") or []))
        usernames = [name.lstrip("@") for name in self.config.get("usernames") or []]
        named = bool(user_ids or usernames or self.config.get("tweet_ids"))
        accounts: dict[str, Account] = {}
        known: dict[str, Account] = {}
        own_needed = self.selection.private_families or self.selection.wants_analytics
        if self.user_context and (own_needed or not named):
            me = self._read_me()
            self.own_id = me[0].id if me else None
            known = {account.id: account for account in me}
            if me and not named:
                accounts[me[0].id] = me[0]
        for account in self._read_usernames(usernames):
            accounts.setdefault(account.id, account)
        if user_ids and self.selection.wants_users:
            known.update(self._read_user_ids([uid for uid in user_ids if uid not in known]))
        for user_id in user_ids:
            if user_id in known or not self.selection.wants_users:
                accounts.setdefault(user_id, known.get(user_id, Account(user_id, None)))
            elif user_id not in accounts and not self.budget.reached:
                self.mark_unavailable(user_id, self._problems_about(user_id))
        return list(accounts.values())

    def mark_unavailable(self, account: str, problems: Iterable[Problem]) -> None:
        """Remember a configured account X did not show; its timeline is skipped."""
        kinds = {problem.kind for problem in problems}
        reason = PARTIAL_ERROR_KINDS.get(min(kinds), min(kinds)) if kinds else "not returned"
        self.unavailable[account] = reason
        self.logger.warning("Account %s is %s: its timeline is skipped.", account, reason)

    def raise_unavailable(self, outcome: str) -> None:
        """Fail, naming every configured account X did not show."""
        if self.unavailable:
            listed = [f"{account} {why}" for account, why in self.unavailable.items()]
            more = len(listed) - SHOWN_ACCOUNTS
            named = "; ".join(listed[:SHOWN_ACCOUNTS]) + (f" and {more} more" if more > 0 else "")
            msg = (
                f"Configured accounts X did not show: {named}. {outcome}; correct or remove "
                "these in user_ids or usernames."
            )
            raise AccountsUnavailableError(msg)

    def _read_me(self) -> list[Account]:
        if not self.budget.room("price_per_user"):
            self.budget.stop()
            return []
        return self._read_users("/2/users/me", {})

    def _problems_about(self, resource_id: str) -> list[Problem]:
        return [
            problem
            for page in self.pages
            for problem in page.problems
            if problem.resource_id == resource_id
        ]

    def _read_usernames(self, usernames: list[str]) -> list[Account]:
        """The accounts of the handles, 100 a request, in the order given."""
        by_name = {name.lower(): name for name in usernames}
        found: dict[str, Account] = {}
        names = list(by_name.values())
        for batch in self.budget.batches(names, "price_per_user", size=MAX_IDS):
            accounts = self._read_users("/2/users/by", {"usernames": ",".join(batch)})
            found.update(((account.username or "").lower(), account) for account in accounts)
        for key, name in by_name.items():
            if key not in found and not self.budget.reached:
                self.mark_unavailable(f"@{name}", self._problems_about(name))
        return [found[key] for key in by_name if key in found]

    def _read_user_ids(self, user_ids: list[str]) -> dict[str, Account]:
        # /2/users/me already brought the authenticated account's record.
        found: dict[str, Account] = {}
        for batch in self.budget.batches(user_ids, "price_per_user", size=MAX_IDS):
            accounts = self._read_users("/2/users", {"ids": ",".join(batch)})
            found.update((account.id, account) for account in accounts)
        return found

    def _read_users(self, path: str, params: dict[str, str]) -> list[Account]:
        body = self.client.get(path, {**params, "user.fields": USER_FIELDS})
        page = parse_user_page(body, observed_now())
        self.pages.append(page)
        return [Account(user["id"], user.get("username")) for user in page.users]
