"""A restricted unpickler for untrusted data pickles.

A pickle can call any importable callable while loading, so the published HW-GPT-Bench pickles are
never read with :func:`pickle.load`. :func:`loads` resolves only the globals that plain numeric data
needs (numpy scalars and dtypes); any other global is refused with :class:`UnsafePickleError` before
it is imported, let alone called. Truncated or malformed input raises :class:`PickleFormatError`.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

__all__ = ["ALLOWED_GLOBALS", "PickleFormatError", "UnsafePickleError", "loads"]


def _numpy_scalar() -> Any:
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    return scalar


#: (module, name) pairs a data pickle may reference; numpy 1.x wrote ``numpy.core``, 2.x ``numpy._core``.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "scalar"): _numpy_scalar(),
    ("numpy._core.multiarray", "scalar"): _numpy_scalar(),
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside :data:`ALLOWED_GLOBALS` (it could run code)."""


class PickleFormatError(pickle.UnpicklingError):
    """The bytes are not a complete pickle (empty, truncated or corrupt)."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = sorted(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise UnsafePickleError(
                f"refusing global {module}.{name}: a data pickle may only reference {allowed}") from None


def loads(data: bytes, what: str = "pickle") -> Any:
    """Unpickle ``data`` allowing only :data:`ALLOWED_GLOBALS`.

    Args:
        data: The pickle's bytes.
        what: Name used in error messages (e.g. the file's path).

    Raises:
        UnsafePickleError: a global outside the allow-list (nothing is imported or called).
        PickleFormatError: empty, truncated or corrupt bytes.
    """
    if not data:
        raise PickleFormatError(f"{what}: empty file (0 bytes)")
    try:
        return _Restricted(io.BytesIO(data)).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{what}: {e}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            OverflowError, MemoryError) as e:
        raise PickleFormatError(f"{what}: not a complete pickle ({type(e).__name__}: {e})") from None
