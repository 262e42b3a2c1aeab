"""Names that become path parts: devices, scales, metrics and run names.

A name is 1 to 64 ASCII characters out of ``a-z 0-9 _ -``, starting with a letter or a digit. That
rules out path separators (``/``, ``\\``), ``.``/``..``, ``@`` (it separates ``metric@device``),
spaces, control characters and Unicode look-alikes (``ｃｐｕ``, a Cyrillic ``с``), so a name can be
joined onto a directory without escaping it and two names that look the same are the same name.
Upper case is refused too: on a case-insensitive file system ``CPU`` and ``cpu`` would share a
directory. The check runs before any file is touched::

    from hwgpt.names import check_name

    device = check_name("device", cfg.device.name)   # InvalidInput naming what is allowed
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from hwgpt.errors import InvalidInput, InvalidType

MAX_LEN = 64
"""Longest name allowed (a path part well under every file system's limit)."""

ALLOWED = "1 to 64 characters out of a-z, 0-9, '_' and '-', starting with a letter or digit"
"""What :func:`check_name` accepts, in words (for messages and docs)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)

__all__ = ["ALLOWED", "MAX_LEN", "check_name", "is_name"]


def is_name(value: Any) -> bool:
    """True when ``value`` is a valid name (see the module docstring)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _hint(value: str) -> str:
    """``; did you mean 'cpu'?`` when a normalised form of ``value`` is a valid name, else ``""``."""
    candidate = unicodedata.normalize("NFKC", value).strip().lower()
    if candidate != value and is_name(candidate):
        return f"; did you mean {candidate!r}?"
    return ""


def check_name(kind: str, value: Any) -> str:
    """``value`` if it is a valid name, else :class:`~hwgpt.errors.InvalidInput` saying what is allowed.

    Args:
        kind: What the name names, for the message (``"device"``, ``"metric"``, ``"run"``).
        value: The name to check.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidType: ``value`` is not a string.
        InvalidInput: empty, too long, or a character outside ``a-z 0-9 _ -`` (the message names the
            first offending character and, for look-alikes or upper case, the ASCII name meant).
    """
    if not isinstance(value, str):
        raise InvalidType(f"invalid {kind} name {value!r} ({type(value).__name__}): a {kind} name is a string of "
                          f"{ALLOWED}")
    if is_name(value):
        return value
    if not value:
        why = "it is empty"
    elif len(value) > MAX_LEN:
        why = f"it has {len(value)} characters"
    elif "/" in value or "\\" in value:
        why = "it contains a path separator"
    elif "@" in value:
        why = "it contains '@' (which separates metric@device)"
    elif not all(c.isascii() for c in value):
        bad = next(c for c in value if not c.isascii())
        why = f"it contains the non-ASCII character {bad!r} (U+{ord(bad):04X} {unicodedata.name(bad, '?')})"
    elif not value[0].isalnum():
        why = f"it starts with {value[0]!r}"
    elif any(c.isupper() for c in value):
        why = "it contains upper case"
    else:
        bad = next(c for c in value if not (c.isdigit() or c.islower() or c in "_-"))
        why = f"it contains {bad!r}"
    show = value if len(value) <= 80 else value[:77] + "..."
    raise InvalidInput(f"invalid {kind} name {show!r}: {why}; use {ALLOWED}{_hint(value)}")
