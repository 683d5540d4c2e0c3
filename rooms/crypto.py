"""Encryption at rest for chat message bodies (MultiFernet over settings.MESSAGE_KEYS).

MESSAGE_KEYS holds comma-separated Fernet keys, newest first: new bodies are encrypted under the
first key and any listed key can decrypt. Rotating is: put the new key first, keep the old ones
after it, run `manage.py rotate_message_keys`, then drop the old keys. In the embedded mode an
empty MESSAGE_KEYS derives one key from SECRET_KEY (production refuses to start without
MESSAGE_KEYS, see config/settings.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from rooms.models import Message

# Domain separation for the SECRET_KEY-derived key: the same SECRET_KEY also signs sessions.
_DERIVATION_INFO = b"hearth message bodies v1"


class MessageKeyError(RuntimeError):
    """A stored body cannot be decrypted with any key in MESSAGE_KEYS (a key was dropped too
    early, or the keys are wrong). An operator problem, never a user's: it is not a
    DomainError."""


@lru_cache(maxsize=4)
def _derived_key(secret_key: str) -> str:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _configured_keys() -> tuple[str, ...]:
    """The keys in force now, read from settings on every call so that tests (and a reload)
    can change them; settings give a list (env_list) but a plain string is accepted too."""
    raw: str | Iterable[str] = settings.MESSAGE_KEYS or ()
    items = raw.split(",") if isinstance(raw, str) else raw
    keys = tuple(key.strip() for key in items if key and key.strip())
    return keys or (_derived_key(settings.SECRET_KEY),)


@lru_cache(maxsize=16)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    # Built once per key tuple: Fernet construction decodes and splits each key.
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as exc:
            # Never echo the key itself into logs.
            raise ImproperlyConfigured(
                f"MESSAGE_KEYS entry {position} is not a Fernet key (32 url-safe base64 bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from exc
    return MultiFernet(fernets)


_last: tuple[object, object, MultiFernet] | None = None


def _current() -> MultiFernet:
    # Every chat message is encrypted and decrypted more than once on its way: parse the
    # keys again only when the settings objects themselves change (tests override them).
    global _last  # noqa: PLW0603
    keys_setting, secret = settings.MESSAGE_KEYS, settings.SECRET_KEY
    last = _last
    if last is not None and last[0] is keys_setting and last[1] is secret:
        return last[2]
    fernet = _multifernet(_configured_keys())
    _last = (keys_setting, secret, fernet)
    return fernet


def encrypt_body(text: str) -> bytes:
    """The Fernet token (bytes) of `text` under the first configured key."""
    return _current().encrypt(text.encode("utf-8"))


def decrypt_body(token: bytes | memoryview) -> str:
    """The plaintext of a stored body. PostgreSQL hands BinaryField values back as memoryview,
    so both are accepted. Raises MessageKeyError when no configured key opens it."""
    try:
        return _current().decrypt(bytes(token)).decode("utf-8")
    except InvalidToken as exc:
        raise MessageKeyError(
            "A message body could not be decrypted with any key in MESSAGE_KEYS."
        ) from exc


def rotate_all(*, batch_size: int = 500) -> int:
    """Re-encrypt every stored message body under the first key in MESSAGE_KEYS; returns the
    number of rows rewritten.

    Works through the table in primary-key order, one transaction per batch, so a large table
    never holds one long lock and an interrupted run can simply be repeated (rotation is
    idempotent). A row no key can open stops the run with MessageKeyError; batches before it
    stay committed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    fernet = _current()
    last_pk = 0
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Message.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "body_encrypted")[:batch_size]
            )
            if not rows:
                return total
            for row in rows:
                try:
                    # rotate() keeps the token's original timestamp.
                    row.body_encrypted = fernet.rotate(bytes(row.body_encrypted))
                except InvalidToken as exc:
                    raise MessageKeyError(
                        f"Message {row.pk} cannot be decrypted with any key in MESSAGE_KEYS; "
                        "add the key it was written under and run the rotation again."
                    ) from exc
            Message.objects.bulk_update(rows, ["body_encrypted"])
        total += len(rows)
        last_pk = rows[-1].pk
