"""Who is asking: authentication of the console and its JSON API.

Three ways in, each configured by settings alone (none configured refuses every request):

- a static token (`MEDIC_CONSOLE_TOKEN`), as `Authorization: Bearer <token>` or entered once on
  the login page; it stands for `MEDIC_CONSOLE_TOKEN_USER` with `MEDIC_CONSOLE_TOKEN_GROUPS`;
- users with PBKDF2-SHA256 password hashes in `MEDIC_CONSOLE_USERS_FILE`
  (`name:pbkdf2_sha256$<iterations>$<salt>$<hash>:group1,group2`), as HTTP Basic or on the
  login page;
- identity headers set by an authenticating proxy (oauth2-proxy style), honoured only when the
  TCP peer is inside `MEDIC_CONSOLE_TRUSTED_PROXIES`.

A login on the page becomes a session: an HMAC-SHA256-signed cookie keyed by
`MEDIC_CONSOLE_SECRET` (a random key of this process when unset, so sessions end with it). The
cookie names the user's session generation at login; a logout moves the generation on in the
store (`store/console_sessions.py`), which ends every session of that user on every replica, so
a copied cookie is worthless after its user logged out.
Every console form carries a CSRF token derived from the session (or, for header-borne
credentials, from the identity) with the same key.

Everything compared with a secret is compared through `secrets_equal` (constant time over
fixed-length digests); failures say nothing about which users exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

from fastapi import Request

from domain.base import Frozen
from domain.settings import Settings

log = logging.getLogger("medic.gateway.auth")

SESSION_COOKIE = "medic_session"
# A login form's nonce: the login POST must come from a page this gateway served (login CSRF).
LOGIN_COOKIE = "medic_login"
SESSION_SECONDS = 12 * 3600
PBKDF2_ALGORITHM = "pbkdf2_sha256"
# OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
PBKDF2_ITERATIONS = 600_000
# A verified Basic credential is remembered (as a keyed digest, never the password) this long,
# so that a script's API calls do not pay the key derivation each time.
_VERIFIED_SECONDS = 300
_VERIFIED_MAX = 1024
# When the user header is absent: what oauth2-proxy sets beside X-Forwarded-User.
USER_HEADER_FALLBACKS = ("X-Forwarded-Preferred-Username", "X-Forwarded-Email")
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}

Via = Literal["token", "basic", "proxy", "session"]

NOT_CONFIGURED = (
    "the console has no authentication configured: set MEDIC_CONSOLE_TOKEN (a static token), "
    "MEDIC_CONSOLE_USERS_FILE (users with password hashes, see `medic console add-user`) or "
    "MEDIC_CONSOLE_TRUSTED_PROXIES (an authenticating proxy's addresses); every request is refused"
)
LOGIN_FAILED = "login failed: the token, or the user name and password, are not valid"


class Principal(Frozen):
    """An authenticated caller. `via` is how this request proved it; `session_id` is set for a
    session cookie only."""

    name: str
    groups: tuple[str, ...] = ()
    via: Via
    session_id: str = ""


class AuthError(Exception):
    """Credentials were presented and are not valid (as opposed to none presented)."""


class SessionsUnavailable(Exception):
    """Where session generations are kept cannot be reached: no session can be checked, opened or
    ended right now."""


class SessionGenerations(Protocol):
    """Where each user's session generation is kept (the store, for every replica to see)."""

    def session_generation(self, name: str) -> int:
        """The user's current generation. Raises SessionsUnavailable."""
        ...

    def end_sessions(self, name: str) -> int:
        """Move the user's generation on, ending their sessions; the new generation. Raises
        SessionsUnavailable."""
        ...


class LocalGenerations:
    """Generations in this process only: for an authenticator that no other replica shares."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}

    def session_generation(self, name: str) -> int:
        with self._lock:
            return self._generations.get(name, 0)

    def end_sessions(self, name: str) -> int:
        with self._lock:
            self._generations[name] = self._generations.get(name, 0) + 1
            return self._generations[name]


# ---- comparing secrets ---------------------------------------------------------------------------


def secrets_equal(given: str | bytes, expected: str | bytes) -> bool:
    """Whether `given` equals `expected`, in time that says nothing about where they differ nor
    how long `expected` is: both are hashed to SHA-256 and the two 32-byte digests compared in
    constant time (`hmac.compare_digest` on inputs of different lengths returns early)."""
    given_bytes = given.encode() if isinstance(given, str) else given
    expected_bytes = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(hashlib.sha256(given_bytes).digest(), hashlib.sha256(expected_bytes).digest())


# ---- passwords -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """`pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>` for `password` (a random 16-byte salt)."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{PBKDF2_ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a `hash_password` result; False for a malformed hash."""
    try:
        algorithm, iterations, salt, expected = encoded.split("$")
        if algorithm != PBKDF2_ALGORITHM or not 1 <= int(iterations) <= 10_000_000:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
        return secrets_equal(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


# ---- the users file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    groups: tuple[str, ...]


def _groups(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(g.strip() for g in text.split(",") if g.strip()))


def parse_users(text: str) -> dict[str, User]:
    """The users of a users file: `name:hash:groups` lines; blank lines and `#` comments skipped.

    Raises ValueError naming the first malformed line.
    """
    users: dict[str, User] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith(f"{PBKDF2_ALGORITHM}$"):
            raise ValueError(f"line {number}: expected name:{PBKDF2_ALGORITHM}$...:group1,group2")
        users[parts[0]] = User(parts[0], parts[1], _groups(parts[2] if len(parts) == 3 else ""))
    return users


def user_line(name: str, password_hash: str, groups: list[str] | tuple[str, ...]) -> str:
    if not name or any(c in name for c in ":\n\r\t ,"):
        raise ValueError(f"invalid user name {name!r}: no colons, commas or whitespace")
    for group in groups:
        if not group or any(c in group for c in ":\n\r\t ,"):
            raise ValueError(f"invalid group {group!r}: no colons, commas or whitespace")
    return f"{name}:{password_hash}:{','.join(groups)}"


def upsert_user(path: str | os.PathLike[str], name: str, password_hash: str, groups: list[str]) -> bool:
    """Write the user's line into the users file, replacing an existing line of that name.

    The file is created with mode 0600 and replaced atomically. Returns whether a line was
    replaced.
    """
    file = Path(path)
    line = user_line(name, password_hash, groups)
    lines = file.read_text().splitlines() if file.exists() else []
    kept, replaced = [], False
    for existing in lines:
        if existing.split(":", 1)[0].strip() == name and not existing.lstrip().startswith("#"):
            if not replaced:
                kept.append(line)
            replaced = True
        else:
            kept.append(existing)
    if not replaced:
        kept.append(line)
    parse_users("\n".join(kept))  # never write a file the gateway would refuse
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(kept) + "\n")
        os.replace(temporary, file)
    finally:
        temporary.unlink(missing_ok=True)
    return replaced


T = TypeVar("T")


class ReloadingFile(Generic[T]):
    """A file of `what` (a name for the log), parsed by `parse` and read again whenever it changes
    (size or modification time), so that an edit needs no restart. An unreadable or malformed file
    holds nothing (`{}`), and says why in the log once per change."""

    def __init__(self, path: Path, parse: Callable[[str], dict[str, T]], what: str) -> None:
        self._path = path
        self._parse = parse
        self._what = what
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, T] = {}

    def get(self, key: str) -> T | None:
        with self._lock:
            try:
                stat = self._path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError as err:
                if self._stamp != (-1, -1):
                    log.error("%s %s cannot be read: %s; it holds nobody", self._what, self._path, err)
                self._stamp, self._entries = (-1, -1), {}
                return None
            if stamp != self._stamp:
                try:
                    self._entries = self._parse(self._path.read_text())
                except (OSError, ValueError) as err:
                    log.error("%s %s is not valid: %s; it holds nobody", self._what, self._path, err)
                    self._entries = {}
                self._stamp = stamp
            return self._entries.get(key)


class UsersFile(ReloadingFile[User]):
    """The users file, read again whenever it changes (so `medic console add-user` needs no restart).

    An unreadable or malformed file admits nobody, and says why in the log once per change.
    """

    def __init__(self, path: str) -> None:
        super().__init__(Path(path), parse_users, "console users file")


# ---- the authenticator ---------------------------------------------------------------------------


def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            log.error("MEDIC_CONSOLE_TRUSTED_PROXIES: %r is not an address or CIDR; ignored", cidr)
    return networks


def peer_host(request: Request) -> str:
    """The TCP peer's address as the server saw it (the gateway runs uvicorn without proxy headers)."""
    return request.client.host if request.client else ""


class Authenticator:
    """Authenticates requests, signs and reads session cookies, and makes and checks CSRF tokens."""

    def __init__(self, settings: Settings, generations: SessionGenerations | None = None) -> None:
        self._token = settings.console_token.encode()
        self._generations: SessionGenerations = generations or LocalGenerations()
        self._token_user = settings.console_token_user or "admin"
        self._token_groups = _groups(",".join(settings.console_token_groups))
        self._users = UsersFile(settings.console_users_file) if settings.console_users_file else None
        self._proxies = _networks(settings.console_trusted_proxies)
        self._user_header = settings.console_user_header or "X-Forwarded-User"
        self._groups_header = settings.console_groups_header or "X-Forwarded-Groups"
        self.configured = bool(self._token or self._users is not None or self._proxies)
        if settings.console_secret:
            self._key = settings.console_secret.encode()
        else:
            self._key = secrets.token_bytes(32)
            if self.configured:
                log.info(
                    "MEDIC_CONSOLE_SECRET is not set: console sessions are signed with a random key "
                    "of this process and end when it restarts (set it to share sessions between "
                    "gateways and across restarts)"
                )
        self._verified: dict[bytes, float] = {}
        self._verified_lock = threading.Lock()
        self._dummy_hash: str | None = None

    @property
    def basic_enabled(self) -> bool:
        return self._users is not None

    @property
    def token_enabled(self) -> bool:
        return bool(self._token)

    # -- credentials ----------------------------------------------------------------------------

    def _sign(self, *parts: str) -> bytes:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).digest()

    def check_token(self, token: str) -> Principal | None:
        if not self._token or not token:
            return None
        if not secrets_equal(token.encode(), self._token):
            return None
        return Principal(name=self._token_user, groups=self._token_groups, via="token")

    def check_password(self, name: str, password: str) -> Principal | None:
        """The user, when `password` is theirs. Unknown users take as long as known ones."""
        if self._users is None or not name or not password:
            return None
        user = self._users.get(name)
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = hash_password(secrets.token_hex(8))
            verify_password(password, self._dummy_hash)
            return None
        memo = self._sign("verified", name, user.password_hash, password)
        now = time.monotonic()
        with self._verified_lock:
            fresh = self._verified.get(memo, 0.0) > now
        if not fresh:
            if not verify_password(password, user.password_hash):
                return None
            with self._verified_lock:
                if len(self._verified) >= _VERIFIED_MAX:
                    self._verified = {k: v for k, v in self._verified.items() if v > now}
                    if len(self._verified) >= _VERIFIED_MAX:
                        self._verified.clear()
                self._verified[memo] = now + _VERIFIED_SECONDS
        return Principal(name=user.name, groups=user.groups, via="basic")

    def trusted_peer(self, request: Request) -> bool:
        try:
            address = ipaddress.ip_address(peer_host(request))
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def _proxy_principal(self, request: Request) -> Principal | None:
        if not self._proxies or not self.trusted_peer(request):
            return None
        name = ""
        for header in (self._user_header, *USER_HEADER_FALLBACKS):
            name = request.headers.get(header, "").strip()
            if name:
                break
        if not name:
            return None
        return Principal(name=name, groups=_groups(request.headers.get(self._groups_header, "")), via="proxy")

    def authenticate(self, request: Request) -> Principal | None:
        """The caller of `request`, or None when it presents no credentials.

        Order: a trusted proxy's identity headers, then an Authorization header (Bearer token or
        Basic user), then the session cookie. Raises AuthError when an Authorization header is
        present and wrong: a request with bad credentials is refused, not served as another one.
        Blocking (a password check derives a key): call it off the event loop.
        """
        principal = self._proxy_principal(request)
        if principal is not None:
            return principal
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            value = value.strip()
            if scheme.lower() == "bearer":
                principal = self.check_token(value)
            elif scheme.lower() == "basic":
                try:
                    name, _, password = base64.b64decode(value, validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise AuthError("malformed basic credentials") from None
                principal = self.check_password(name, password)
            if principal is None:
                raise AuthError("invalid credentials")
            return principal
        cookie = request.cookies.get(SESSION_COOKIE)
        return self.read_session(cookie) if cookie else None

    # -- sessions -------------------------------------------------------------------------------

    def _binding(self, via: str, name: str) -> str:
        """What a session's validity hangs on: the token itself, or the user's password hash, so
        that rotating either ends the sessions it opened."""
        if via == "token":
            material = self._token.decode()
        elif via == "basic" and self._users is not None:
            user = self._users.get(name)
            material = user.password_hash if user else ""
        else:
            material = ""
        if not material:
            return ""
        return _b64(self._sign("binding", via, name, material)[:12])

    def issue_session(self, principal: Principal, now: float | None = None) -> str:
        """The signed cookie value for a principal who logged in with a token or a password.

        Blocking (reads the user's generation): call it off the event loop. Raises
        SessionsUnavailable."""
        payload = {
            "g": self._generations.session_generation(principal.name),
            "u": principal.name,
            "via": principal.via,
            "exp": int((now if now is not None else time.time()) + SESSION_SECONDS),
            "sid": secrets.token_hex(16),
            "b": self._binding(principal.via, principal.name),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"v1.{body}.{_b64(self._sign('session', body))}"

    def read_session(self, value: str, now: float | None = None) -> Principal | None:
        """The session's principal, or None for a cookie that is malformed, forged, expired,
        ended by a logout, or bound to a token or password that has changed since.

        Blocking (reads the user's generation): call it off the event loop. Raises
        SessionsUnavailable."""
        try:
            version, body, signature = value.split(".")
            if version != "v1" or not secrets_equal(_unb64(signature), self._sign("session", body)):
                return None
            payload = json.loads(_unb64(body))
            name, via, expiry, sid = payload["u"], payload["via"], int(payload["exp"]), str(payload["sid"])
            generation = int(payload["g"])
        except (ValueError, KeyError, TypeError):
            return None
        if expiry <= (now if now is not None else time.time()):
            return None
        binding = self._binding(via, name)
        if not binding or not secrets_equal(str(payload.get("b", "")), binding):
            return None
        if via == "token":
            groups = self._token_groups
        elif via == "basic" and self._users is not None:
            user = self._users.get(name)
            if user is None:
                return None
            groups = user.groups  # as the file says now
        else:
            return None
        # Last, as the only check that reads the store: a logout since this cookie was issued.
        if generation != self._generations.session_generation(name):
            return None
        return Principal(name=name, groups=groups, via="session", session_id=sid)

    def end_sessions(self, principal: Principal) -> None:
        """End every session of the principal's user, here and on every replica sharing the
        generations. Blocking; raises SessionsUnavailable."""
        self._generations.end_sessions(principal.name)

    # -- CSRF -----------------------------------------------------------------------------------

    def csrf_token(self, principal: Principal) -> str:
        """The token every console form carries: tied to the session, or (for credentials sent
        with each request) to the identity, and unforgeable without the key."""
        anchor = principal.session_id or principal.name
        return _b64(self._sign("csrf", principal.via, anchor))

    def check_csrf(self, principal: Principal, token: str) -> bool:
        return bool(token) and secrets_equal(token, self.csrf_token(principal))

    def login_csrf(self, nonce: str) -> str:
        return _b64(self._sign("login", nonce))

    def check_login_csrf(self, nonce: str, token: str) -> bool:
        return bool(nonce and token) and secrets_equal(token, self.login_csrf(nonce))

    # -- transport ------------------------------------------------------------------------------

    def secure_request(self, request: Request) -> bool:
        """Whether the browser reached us over https (directly, or through a trusted proxy)."""
        if request.url.scheme == "https":
            return True
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return forwarded == "https" and self.trusted_peer(request)

    def one_click_allowed(self, request: Request) -> bool:
        """`/console/login?token=` is accepted from loopback only, and not through a proxy."""
        forwarded = any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-real-ip"))
        return peer_host(request) in LOOPBACK_HOSTS and not forwarded
