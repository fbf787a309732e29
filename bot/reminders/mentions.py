"""Who a reminder pings: the 担当 tab's entries resolved to Slack IDs, and the channel a
deadline names resolved to its ID (which conversations.history needs).

People type `@田中 太郎`, `@tanaka`, `@デジタル推進課` (a user group) or IDs; Slack notifies
only `<@U…>` and `<!subteam^S…>`, so names are looked up in users.list and
usergroups.list. The lists are read at most once per CACHE_SECONDS, page by page; a 429 is
waited out by the client's RateLimitErrorRetryHandler (Retry-After honoured).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
FAILURE_SECONDS = 60.0
PAGE = 200  # Slack recommends no more than 200 items per page
MAX_PAGES = 100  # 20,000 members or channels: a bound, not a limit anyone meets

_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{6,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_USER_MARKUP = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_GROUP_MARKUP = re.compile(r"^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$")


def _plain(name: str) -> str:
    """Names compared as people mean them: width, case and spaces do not matter."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).casefold()


class DirectoryError(Exception):
    """Slack's member, group or channel list could not be read (a scope, the network)."""


@dataclass
class SlackDirectory:
    """users.list, usergroups.list and conversations.list, cached."""

    client: WebClient
    cache_seconds: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _lists: dict[str, tuple[float, list[dict[str, Any]]]] = field(default_factory=dict)
    _failures: dict[str, tuple[float, DirectoryError]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def users(self) -> list[dict[str, Any]]:
        return self._cached("users.list", "members", {"limit": PAGE})

    def usergroups(self) -> list[dict[str, Any]]:
        return self._cached("usergroups.list", "usergroups", {})

    def channels(self) -> list[dict[str, Any]]:
        return self._cached(
            "conversations.list",
            "channels",
            {"limit": PAGE, "types": "public_channel,private_channel", "exclude_archived": True},
        )

    def channel_id(self, channel: str) -> str:
        """`C0123ABCD` as it is; `#kpi` or `kpi` looked up. Empty when not found."""
        if _CHANNEL_ID.match(channel):
            return channel
        wanted = _plain(channel.removeprefix("#"))
        for found in self.channels():
            if _plain(str(found.get("name", ""))) == wanted:
                return str(found["id"])
        return ""

    def _cached(self, method: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            read_at, items = self._lists.get(method, (0.0, []))
            if method in self._lists and self.clock() - read_at < self.cache_seconds:
                return items
            failed_at, error = self._failures.get(method, (0.0, None))
            if error is not None and self.clock() - failed_at < FAILURE_SECONDS:
                raise error  # a missing scope is not asked again every run (Tier 2 limits)
            try:
                items = self._read(method, key, params)
            except DirectoryError as failure:
                self._failures[method] = (self.clock(), failure)
                raise
            self._lists[method] = (self.clock(), items)
            return items

    def _read(self, method: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            try:
                page = self.client.api_call(
                    method, http_verb="GET", params=params | ({"cursor": cursor} if cursor else {})
                )
            except SlackApiError as error:
                raise DirectoryError(f"{method}: {error.response.get('error')}") from None
            except Exception as error:  # the network: said once, by the caller
                raise DirectoryError(f"{method}: {error}") from None
            items += list(page.get(key) or [])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return items


@dataclass(frozen=True)
class Owners:
    """Each division's mentions as Slack markup, and what could not be resolved."""

    mentions: dict[str, tuple[str, ...]]
    problems: list[str]


def resolve_owners(owners: Mapping[str, Sequence[str]], directory: SlackDirectory | None) -> Owners:
    """IDs become markup; `@names` are looked up (without a directory they are shown as
    text and reported). Special mentions never get here: the 担当 tab refuses them."""
    mentions: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    unchecked: list[str] = []  # names shown as text: no token, or Slack's lists unreadable
    failed = "" if directory is not None else "SLACK_BOT_TOKEN がありません"
    for department, entries in owners.items():
        resolved: list[str] = []
        for entry in entries:
            markup = _markup(entry)
            if markup:
                resolved.append(markup)
                continue
            if not failed:
                assert directory is not None
                try:
                    found, problem = find_name(entry, directory)
                except DirectoryError as error:
                    failed = str(error)
                else:
                    if found:
                        resolved.append(found)
                    else:
                        problems.append(f"担当「{department}」: {problem}")
                    continue
            unchecked.append(entry)
            resolved.append(entry)
        mentions[department] = tuple(dict.fromkeys(resolved))
    if unchecked:
        problems.append(
            f"{'、'.join(unchecked)} を Slack で確かめられませんでした（{failed}）。"
            "通知されない文字のまま載せます。"
        )
    return Owners(mentions, problems)


def _markup(entry: str) -> str:
    if match := _USER_MARKUP.match(entry):
        return f"<@{match.group(1)}>"
    if match := _GROUP_MARKUP.match(entry):
        return f"<!subteam^{match.group(1)}>"
    if _USER_ID.match(entry):
        return f"<@{entry}>"
    if _GROUP_ID.match(entry):
        return f"<!subteam^{entry}>"
    return ""


def find_name(entry: str, directory: SlackDirectory) -> tuple[str, str]:
    """(`<@U…>` or `<!subteam^S…>`, "") for one match; ("", why) for none or several."""
    name = _plain(entry.removeprefix("@"))
    groups = [
        g
        for g in directory.usergroups()
        if not g.get("date_delete")
        and name in (_plain(str(g.get("handle", ""))), _plain(str(g.get("name", ""))))
    ]
    users = [
        u
        for u in directory.users()
        if not u.get("deleted")
        and not u.get("is_bot")
        and name
        in {
            _plain(str(u.get("name", ""))),
            _plain(str((u.get("profile") or {}).get("display_name", ""))),
            _plain(str((u.get("profile") or {}).get("real_name", ""))),
        }
        - {""}
    ]
    found = [f"<!subteam^{g['id']}>" for g in groups] + [f"<@{u['id']}>" for u in users]
    if len(found) == 1:
        return found[0], ""
    if not found:
        return "", (
            f"{entry} に当たる Slack のユーザー・ユーザーグループがありません。"
            "表示名・ハンドル、またはユーザーID（U0123ABCD）を確かめてください。"
        )
    names = [f"@{g.get('handle')}" for g in groups] + [
        f"{(u.get('profile') or {}).get('real_name') or u.get('name')}（{u['id']}）" for u in users
    ]
    return "", (
        f"{entry} に当たる人・グループが{len(found)}件あります（{'、'.join(names)}）。"
        "ユーザーID（U0123ABCD）で指定してください。"
    )
