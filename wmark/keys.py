"""Secret keys: 128 random bits in a text file (hex), readable by its owner only.

A key permutes and masks the coded bits of a message (:func:`wmark.payload.key_schedule`),
so that without it a mark reads as noise ("no watermark found") and cannot be forged.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import OutputError, UsageError

KEY_BYTES = 16


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_key(path: str | os.PathLike[str], key: bytes, *, force: bool = False) -> Path:
    """Write ``key`` as hex to ``path`` with mode 0600, atomically; never over a file unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} already exists (use --force to overwrite it)")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write key {path}: {error.strerror or error}") from None
    return path


def read_key(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path`` (hex, as :func:`write_key` writes it); UsageError when unusable."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a key file"
        raise UsageError(f"cannot read key {path}: {reason}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"key {path} is not hexadecimal (make one with `wmark keygen -o FILE`)") from None
    if len(key) < KEY_BYTES:
        raise UsageError(f"key {path} has {8 * len(key)} bits; at least {8 * KEY_BYTES} are needed")
    return key
