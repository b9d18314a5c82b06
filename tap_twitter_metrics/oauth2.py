"""OAuth 2.0 user-context tokens for X: a locked, rotating token file and a requests auth.

X refresh tokens are single-use: every refresh returns a new one and kills the old. The
token file is therefore the only place the current refresh token lives between runs. It is
written (atomically, mode 0600) before a new access token is handed out, and every
read-refresh-write happens under a cross-process lock so that two runs sharing the file
never spend the same refresh token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import backoff
import requests
from requests.auth import HTTPBasicAuth

if sys.platform != "win32":
    import fcntl

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

SIGN_IN_COMMAND = "tap-twitter-metrics-auth"
REFRESH_MARGIN_SECONDS = 300.0
DEFAULT_ACCESS_TOKEN_LIFETIME = 7200
TOKEN_FILE_MODE = 0o600
REFUSED_GRANT_ERRORS = frozenset({"invalid_request", "invalid_grant"})
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})

_LOGGER = logging.getLogger(__name__)
_LOCK_POLL_SECONDS = 0.05
# What os.path.expandvars replaces on POSIX: $NAME and ${NAME}.
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


class OAuth2Error(Exception):
    """OAuth 2.0 sign-in or token refresh failed; the message never contains a token."""


class RefusedGrantError(OAuth2Error):
    """The token endpoint refused the grant (a spent, revoked or unknown token or code)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class _TransientTokenEndpointError(Exception):
    """A network error, 429 or 5xx from the token endpoint: worth another try."""


def token_url_for(api_url: str) -> str:
    """Return the token endpoint of an API base URL."""
    return f"{api_url.rstrip('/')}/2/oauth2/token"


def sha256_hex(value: str) -> str:
    """Return the hex SHA-256 of a token, to recognise it later without storing it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenSet:
    """The content of a token file."""

    refresh_token: str = field(repr=False)
    access_token: str | None = field(repr=False)
    expires_at: int | None
    scope: str | None
    config_refresh_token_sha256: str | None
    # Known only for tokens this process received; not part of the file.
    lifetime: float | None = field(default=None, compare=False)

    @classmethod
    def from_token_response(
        cls,
        payload: Mapping[str, t.Any],
        *,
        previous: TokenSet | None,
        config_refresh_token_sha256: str | None,
        received_at: float,
    ) -> TokenSet:
        """Build the token set from a token endpoint answer (refresh or code grant)."""
        refresh_token = payload.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            # RFC 6749 6: a server may keep the old refresh token valid and send none.
            if previous is None:
                msg = (
                    "X returned no refresh token: the scopes must include offline.access "
                    "for unattended runs"
                )
                raise OAuth2Error(msg)
            refresh_token = previous.refresh_token
        lifetime = _seconds(payload.get("expires_in"), DEFAULT_ACCESS_TOKEN_LIFETIME)
        scope = payload.get("scope")
        return cls(
            refresh_token=refresh_token,
            access_token=str(payload["access_token"]),
            expires_at=int(received_at + lifetime),
            scope=scope if isinstance(scope, str) else (previous.scope if previous else None),
            config_refresh_token_sha256=config_refresh_token_sha256,
            lifetime=lifetime,
        )

    @classmethod
    def from_file_content(cls, data: object) -> TokenSet:
        """Parse the JSON object of a token file."""
        if not isinstance(data, dict):
            msg = "not a JSON object"
            raise ValueError(msg)
        refresh_token = data.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            msg = "no refresh_token"
            raise ValueError(msg)
        access_token = data.get("access_token")
        expires_at = data.get("expires_at")
        scope = data.get("scope")
        seed = data.get("config_refresh_token_sha256")
        return cls(
            refresh_token=refresh_token,
            access_token=access_token if isinstance(access_token, str) else None,
            expires_at=(
                int(expires_at)
                if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool)
                else None
            ),
            scope=scope if isinstance(scope, str) else None,
            config_refresh_token_sha256=seed if isinstance(seed, str) else None,
        )

    def to_file_content(self) -> dict[str, object]:
        """Return the JSON object written to the token file."""
        return {
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "config_refresh_token_sha256": self.config_refresh_token_sha256,
        }


def _seconds(value: object, default: int) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str) and value.isdigit():
        return float(value)
    return float(default)


def token_file_path(setting: str) -> Path:
    """The token file a setting or option names: $VARIABLES and ~ expanded, made absolute.

    Raises OAuth2Error for a variable that is not set (or empty) or a home folder that cannot
    be found, rather than keep the file under a literal `$VAR` or `~` folder of the working
    directory.
    """
    for match in _VARIABLE.finditer(setting):
        name = match.group(1).strip("{}")
        if not os.environ.get(name):
            # An empty one would move the file: $DIR/tokens.json to /tokens.json.
            state = "empty" if name in os.environ else "not set"
            msg = f"{setting!r} names ${name}, which is {state} in the environment"
            raise OAuth2Error(msg)
    try:
        return Path(os.path.expandvars(setting)).expanduser().absolute()
    except RuntimeError:
        msg = f"{setting!r} starts with a home folder that cannot be found"
        raise OAuth2Error(msg) from None


def prepare_token_file(path: Path) -> None:
    """Before any request: the token file's folder exists and the file is private.

    Also warns when git could commit the file; raises OAuth2Error for a folder that cannot
    be made.
    """
    _make_folder(path)
    _keep_private(path)
    work_tree = _committable_from(path)
    if work_tree is not None:
        _LOGGER.warning(
            "The OAuth 2.0 token file %s is inside the git work tree %s and not ignored by "
            "git: it holds live tokens and could be committed. Add it to .gitignore or keep "
            "it outside the work tree.",
            path,
            work_tree,
        )


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (
            f"Cannot create the folder {path.parent} of the OAuth 2.0 token file {path}: "
            f"{exc.strerror or type(exc).__name__}"
        )
        raise OAuth2Error(msg) from None


def _keep_private(path: Path) -> None:
    """Tighten a token file others may read (a copy restored by a CI step, say) to 0600."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # no file yet; one that cannot be read is reported when it is read
    if not mode & ~TOKEN_FILE_MODE:
        return
    try:
        path.chmod(TOKEN_FILE_MODE)
    except OSError as exc:
        _LOGGER.warning(
            "The OAuth 2.0 token file %s has mode %04o, wider than 0600, and cannot be "
            "changed (%s).",
            path,
            mode,
            exc.strerror,
        )
        return
    _LOGGER.warning(
        "The OAuth 2.0 token file %s had mode %04o, wider than 0600: set it to 0600.", path, mode
    )


def _committable_from(path: Path) -> Path | None:
    """The git work tree holding `path`, unless git ignores the path there."""
    work_tree = next((folder for folder in path.parents if (folder / ".git").exists()), None)
    if work_tree is None:
        return None
    try:
        ignored = subprocess.run(
            ["git", "-C", str(work_tree), "check-ignore", "-q", "--", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return work_tree  # no git to ask: it could still be committed
    return None if ignored.returncode == 0 else work_tree


def read_token_file(path: Path) -> TokenSet | None:
    """Return the token file's content, or None when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"Cannot read the OAuth 2.0 token file {path}: {exc.strerror}"
        raise OAuth2Error(msg) from None
    try:
        return TokenSet.from_file_content(json.loads(text))
    except ValueError as exc:
        reason = "invalid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
        msg = (
            f"The OAuth 2.0 token file {path} is unusable ({reason}). "
            f"Run `{SIGN_IN_COMMAND}` to sign in again and write a new one."
        )
        raise OAuth2Error(msg) from None


def write_token_file(path: Path, tokens: TokenSet) -> None:
    """Replace the token file atomically: a 0600 temp file in the same directory, renamed."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    content = json.dumps(tokens.to_file_content(), indent=2) + "\n"
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as temp_file:
            os.fchmod(temp_file.fileno(), TOKEN_FILE_MODE)
            temp_file.write(content)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        temp_path.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform or filesystem allows it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def token_file_lock(path: Path, *, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive cross-process lock on `<token_file>.lock`."""
    if sys.platform == "win32":
        msg = "OAuth 2.0 token files need POSIX file locks, which Windows lacks"
        raise OAuth2Error(msg)
    _make_folder(path)
    lock_path = path.with_name(f"{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, TOKEN_FILE_MODE)
    except OSError as exc:
        msg = f"Cannot open the token file lock {lock_path}: {exc.strerror or type(exc).__name__}"
        raise OAuth2Error(msg) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    msg = f"Another run held the token file lock {lock_path} for {timeout:.0f} s"
                    raise OAuth2Error(msg) from None
                time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


def request_tokens(
    session: requests.Session,
    token_url: str,
    form: Mapping[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    timeout: float = 60.0,
    max_tries: int = 5,
) -> dict[str, t.Any]:
    """POST a grant to the token endpoint and return its JSON answer.

    Confidential clients authenticate with HTTP Basic; client_id is always in the body, as
    X asks of public clients. Network errors, 429 and 5xx are retried with backoff.
    Raises RefusedGrantError for a refused token or code, OAuth2Error otherwise.
    """
    data = {**form, "client_id": client_id}
    auth = HTTPBasicAuth(client_id, client_secret) if client_secret else None
    secrets = [value for value in (*form.values(), client_secret) if value]
    try:
        response = _post_with_retries(
            session, token_url, data, auth=auth, timeout=timeout, max_tries=max_tries
        )
    except _TransientTokenEndpointError as exc:
        msg = f"The OAuth 2.0 token endpoint {token_url} failed {max_tries} times (last: {exc})"
        raise OAuth2Error(msg) from None
    return _token_response_body(response, secrets)


def _post_with_retries(
    session: requests.Session,
    token_url: str,
    data: Mapping[str, str],
    *,
    auth: HTTPBasicAuth | None,
    timeout: float,
    max_tries: int,
) -> requests.Response:
    """POST the form; raise _TransientTokenEndpointError once max_tries tries failed."""

    # backoff's log lines name the function they retry: keep it `post_grant`.
    @backoff.on_exception(
        backoff.expo,
        _TransientTokenEndpointError,
        max_tries=max_tries,
        logger=_LOGGER,
        giveup_log_level=logging.DEBUG,
    )
    def post_grant() -> requests.Response:
        try:
            response = session.post(
                token_url,
                data=data,
                auth=auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            msg = f"{type(exc).__name__} from the token endpoint"
            raise _TransientTokenEndpointError(msg) from None
        if response.status_code == 429 or response.status_code >= 500:
            msg = f"HTTP {response.status_code} from the token endpoint"
            raise _TransientTokenEndpointError(msg)
        return response

    return post_grant()


def _token_response_body(response: requests.Response, secrets: Iterable[str]) -> dict[str, t.Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.ok:
        if isinstance(body, dict) and isinstance(body.get("access_token"), str):
            return body
        msg = f"The OAuth 2.0 token endpoint answered HTTP {response.status_code} without tokens"
        raise OAuth2Error(msg)
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    for secret in secrets:
        description = description.replace(secret, "***")
    if error in REFUSED_GRANT_ERRORS:
        raise RefusedGrantError(error, description)
    if error in CLIENT_ERRORS or response.status_code == 401:
        msg = (
            f"The OAuth 2.0 token endpoint refused the client (HTTP {response.status_code}"
            f"{', ' + error if error else ''}): check oauth2_client_id and oauth2_client_secret "
            "(public clients have no secret)"
        )
        raise OAuth2Error(msg)
    msg = (
        f"The OAuth 2.0 token endpoint answered HTTP {response.status_code}"
        f"{' (' + error + ')' if error else ''}"
    )
    raise OAuth2Error(msg)


class OAuth2TokenStore:
    """Hands out valid access tokens, refreshing through the token file under a lock.

    The token file wins over the config's refresh token, which only seeds it. When the
    file's refresh token is refused and the config holds a different one than the one that
    seeded the file (the user signed in again), that one is tried before giving up.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        config_refresh_token: str | None,
        token_file: Path,
        session: requests.Session,
        request_timeout: float = 60.0,
        max_tries: int = 5,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        lock_timeout_seconds: float = 600.0,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret or None
        self._config_refresh_token = config_refresh_token or None
        self._token_file = token_file
        self._session = session
        self._request_timeout = request_timeout
        self._max_tries = max_tries
        self._refresh_margin = refresh_margin_seconds
        self._lock_timeout = lock_timeout_seconds
        self._tokens: TokenSet | None = None
        self._thread_lock = threading.Lock()

    def access_token(self) -> str:
        """Return a valid access token, refreshing (under the file lock) when needed."""
        with self._thread_lock:
            tokens = self._tokens
            if tokens is not None and tokens.access_token and self._is_fresh(tokens):
                return tokens.access_token
            return self._obtain(force=False)

    def force_refresh(self) -> str:
        """Return a new access token after the API refused the current one (HTTP 401)."""
        with self._thread_lock:
            return self._obtain(force=True)

    def _is_fresh(self, tokens: TokenSet) -> bool:
        if tokens.expires_at is None:
            return False
        margin = self._refresh_margin
        if tokens.lifetime is not None:
            # Short-lived tokens (test servers) would otherwise never count as fresh.
            margin = min(margin, tokens.lifetime / 2)
        return time.time() < tokens.expires_at - margin

    def _obtain(self, *, force: bool) -> str:
        rejected = self._tokens.access_token if force and self._tokens else None
        with token_file_lock(self._token_file, timeout=self._lock_timeout):
            stored = read_token_file(self._token_file)
            if (
                stored is not None
                and stored.access_token
                and self._is_fresh(stored)
                and (not force or (rejected is not None and stored.access_token != rejected))
            ):
                # Another run refreshed while this one waited for the lock.
                self._tokens = stored
                return stored.access_token
            tokens = self._refresh(stored)
        self._tokens = tokens
        assert tokens.access_token is not None  # from_token_response always sets it
        return tokens.access_token

    def _candidates(self, stored: TokenSet | None) -> list[tuple[str, str, str | None]]:
        """Return (origin, refresh token, seed hash to record) in the order to try them."""
        config = self._config_refresh_token
        config_sha = sha256_hex(config) if config else None
        if stored is None:
            return [("oauth2_refresh_token", config, config_sha)] if config else []
        candidates = [
            (
                f"the token file {self._token_file}",
                stored.refresh_token,
                stored.config_refresh_token_sha256,
            )
        ]
        if (
            config
            and config_sha != stored.config_refresh_token_sha256
            and config != stored.refresh_token
        ):
            candidates.append(("oauth2_refresh_token", config, config_sha))
        return candidates

    def _refresh(self, stored: TokenSet | None) -> TokenSet:
        candidates = self._candidates(stored)
        if not candidates:
            msg = (
                f"No OAuth 2.0 refresh token: {self._token_file} does not exist and "
                f"oauth2_refresh_token is not set. Run `{self._sign_in_hint()}` to sign in."
            )
            raise OAuth2Error(msg)
        self._check_token_file_writable()
        return self._refresh_with_first_accepted(stored, candidates)

    def _refresh_with_first_accepted(
        self, stored: TokenSet | None, candidates: Iterable[tuple[str, str, str | None]]
    ) -> TokenSet:
        """Try the candidates in order; save and return the tokens of the first one accepted."""
        refused: list[str] = []
        last_error = ""
        for origin, refresh_token, seed_sha in candidates:
            try:
                payload = self._request_refresh(refresh_token)
            except RefusedGrantError as exc:
                refused.append(origin)
                last_error = exc.error
                _LOGGER.warning("The OAuth 2.0 refresh token from %s was refused", origin)
                continue
            tokens = TokenSet.from_token_response(
                payload,
                previous=stored,
                config_refresh_token_sha256=seed_sha,
                received_at=time.time(),
            )
            self._save(tokens)
            _LOGGER.info("Refreshed the OAuth 2.0 access token; saved the new refresh token")
            return tokens
        msg = (
            f"The OAuth 2.0 refresh token was refused ({last_error}; tried "
            f"{' and '.join(refused)}): it was already used or has been revoked. "
            f"Run `{self._sign_in_hint()}` to sign in again."
        )
        raise OAuth2Error(msg)

    def _request_refresh(self, refresh_token: str) -> dict[str, t.Any]:
        return request_tokens(
            self._session,
            self._token_url,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            client_id=self._client_id,
            client_secret=self._client_secret,
            timeout=self._request_timeout,
            max_tries=self._max_tries,
        )

    def _check_token_file_writable(self) -> None:
        # A refresh spends the old token: make sure the new one can be kept before asking.
        directory = self._token_file.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"Cannot create the token file directory {directory}: {exc.strerror}"
            raise OAuth2Error(msg) from None
        if not os.access(directory, os.W_OK | os.X_OK):
            msg = f"The token file directory {directory} is not writable"
            raise OAuth2Error(msg)

    def _save(self, tokens: TokenSet) -> None:
        try:
            write_token_file(self._token_file, tokens)
        except OSError as exc:
            msg = (
                f"Refreshed, but could not write the token file {self._token_file} "
                f"({exc.strerror}); the previous refresh token is spent. "
                f"Run `{self._sign_in_hint()}` to sign in again."
            )
            raise OAuth2Error(msg) from None

    def _sign_in_hint(self) -> str:
        parts = urlsplit(self._token_url)
        api_url = f"{parts.scheme}://{parts.netloc}"
        api_option = (
            "" if parts.netloc in {"api.x.com", "api.twitter.com"} else f" --api-url {api_url}"
        )
        return (
            f"{SIGN_IN_COMMAND}{api_option} --client-id {self._client_id} "
            f"--token-file {self._token_file}"
        )
