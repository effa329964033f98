"""Router keys: how they are made, hashed and described.

A key is `sk-edge-` followed by 43 URL-safe characters from `secrets.token_urlsafe(32)`: 256 bits
from the OS CSPRNG. Only `sha256(key)` is ever stored. A plain SHA-256 is enough here because the
input is a uniformly random 256-bit secret: there is no dictionary to attack, so slow hashes
(bcrypt, scrypt) or a pepper add cost and a second secret to manage without adding safety. Users'
passwords would be another matter; these keys are never chosen by a person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from ..limits.windows import KeyLimits

PREFIX = "sk-edge-"
#: Longest token we bother to hash; anything longer cannot be one of ours.
MAX_TOKEN_CHARS = 256
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
#: Compared against when no stored hash matches, so unknown keys take the same path as known ones.
_DUMMY_HASH = "0" * 64


def generate_key() -> str:
    """A new router key. Print it once; store only `hash_key(key)`."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key: what the stores keep and what the table's `pk` carries."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_hash(value: str) -> bool:
    return bool(_HASH.match(value))


def same_hash(stored: str | None, presented: str) -> bool:
    """Constant-time comparison; `stored=None` still costs one comparison."""
    return hmac.compare_digest((stored or _DUMMY_HASH).encode(), presented.encode()) and (
        stored is not None
    )


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"key name {name!r} must match [A-Za-z0-9._-]{{1,64}}")
    return name


def key_id(key_hash: str) -> str:
    """The id that names a key's usage items (`usage#<id>`, SPEC §13): its hash's first 16 hex
    digits. Unique in practice, stable for the key's life, and no secret."""
    return key_hash[:16]


def short_hash(key_hash: str) -> str:
    """The first 8 hex digits: enough for an operator to tell keys apart, useless to an attacker."""
    return key_hash[:8]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One router key as stored: never the key itself."""

    name: str
    key_hash: str
    created_at: float  # epoch seconds
    models: tuple[str, ...] = ()  # empty = every model
    revoked_at: float | None = None
    limits: KeyLimits = field(default_factory=KeyLimits)  # rpm, tpm, budget_usd; 0 = unlimited

    @property
    def active(self) -> bool:
        return self.revoked_at is None
