"""The architecture search space: the single source of truth for every stage.

A :class:`SearchSpace` holds the choices of one supernet scale (the paper's Table 1 for
``s``/``m``/``l``, plus our CPU-sized ``tiny``). An :class:`Arch` is one sub-network:
embedding dim, depth, per-layer heads and MLP ratios, and the bias switch.

Per-layer choices over a variable depth are represented, for encodings and for Syne Tune,
as fixed-length vectors over the *maximum* depth: slot ``i`` holds layer ``i``'s choice, and
slots ``i >= n_layer`` are inactive (ignored when decoding, zero in the numeric encoding).
"""

from __future__ import annotations

import functools
import hashlib
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput, InvalidType, check_int, check_seed, check_str

FIELDS = ("embed_dim", "n_layer", "n_head", "mlp_ratio", "bias")


def _check_int(name: str, value: Any, what: str = "Arch field") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidType(
            f"{what} {name!r}: expected an int, got {value!r} ({type(value).__name__})"
        )
    return int(value)


def _check_positive(name: str, value: int, what: str = "Arch field") -> int:
    if value < 1:
        raise InvalidInput(f"{what} {name!r}: must be >= 1, got {value}")
    return value


def _check_int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if type(value) is tuple and all(type(v) is int and v >= 1 for v in value):
        return value  # (already what the checks below return: every new arch of a search passes here)
    if not isinstance(value, (tuple, list)):
        raise InvalidType(
            f"Arch field {name!r}: expected a tuple of ints (one per layer), got {value!r} "
            f"({type(value).__name__})"
        )
    return tuple(_check_positive(f"{name}[{i}]", _check_int(f"{name}[{i}]", v)) for i, v in enumerate(value))


@dataclass(frozen=True)
class Arch:
    """One sub-network of a supernet.

    Attributes:
        embed_dim: Embedding (residual stream) width.
        n_layer: Number of transformer blocks (the first ``n_layer`` of the supernet).
        n_head: Attention heads of each layer, ``len == n_layer``.
        mlp_ratio: MLP hidden width / ``embed_dim`` of each layer, ``len == n_layer``.
        bias: Whether every linear and LayerNorm has a bias term.
    """

    embed_dim: int
    n_layer: int
    n_head: tuple[int, ...]
    mlp_ratio: tuple[int, ...]
    bias: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "embed_dim", _check_positive("embed_dim", _check_int("embed_dim", self.embed_dim)))
        object.__setattr__(self, "n_layer", _check_positive("n_layer", _check_int("n_layer", self.n_layer)))
        object.__setattr__(self, "n_head", _check_int_tuple("n_head", self.n_head))
        object.__setattr__(self, "mlp_ratio", _check_int_tuple("mlp_ratio", self.mlp_ratio))
        if not isinstance(self.bias, (bool, np.bool_)):
            raise InvalidType(
                f"Arch field 'bias': expected a bool, got {self.bias!r} ({type(self.bias).__name__})"
            )
        object.__setattr__(self, "bias", bool(self.bias))
        for name in ("n_head", "mlp_ratio"):
            if len(getattr(self, name)) != self.n_layer:
                raise InvalidInput(
                    f"Arch field {name!r}: needs one entry per layer (n_layer={self.n_layer}), "
                    f"got {len(getattr(self, name))}: {getattr(self, name)!r}"
                )
        # Archs key every cache of the benchmark and the search: hash the fields once, not per lookup.
        object.__setattr__(self, "_hash", hash((self.embed_dim, self.n_layer, self.n_head, self.mlp_ratio, self.bias)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    @classmethod
    def _checked(cls, embed_dim: int, n_layer: int, n_head: tuple[int, ...], mlp_ratio: tuple[int, ...],
                 bias: bool) -> Arch:
        """The Arch the constructor would build from fields known to pass its checks (ints, ``n_layer``
        positive ints per tuple, a bool): for :meth:`SearchSpace.from_choice_indices`, whose fields are the
        space's own choices."""
        arch = object.__new__(cls)
        arch.__dict__.update(embed_dim=embed_dim, n_layer=n_layer, n_head=n_head, mlp_ratio=mlp_ratio, bias=bias,
                             _hash=hash((embed_dim, n_layer, n_head, mlp_ratio, bias)))
        return arch

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        return {
            "embed_dim": self.embed_dim,
            "n_layer": self.n_layer,
            "n_head": list(self.n_head),
            "mlp_ratio": list(self.mlp_ratio),
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arch:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ValueError."""
        if not isinstance(d, dict):
            raise InvalidType(f"Arch.from_dict expects a dict, got {type(d).__name__}")
        unknown = set(d) - set(FIELDS)
        missing = set(FIELDS) - set(d)
        if unknown or missing:
            raise InvalidInput(
                f"Arch.from_dict: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
                f"allowed keys are {list(FIELDS)}"
            )
        return cls(**d)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): stable across runs and machines.

        The bytes of ``json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))``, formatted
        directly (the fields are validated ints and a bool, whose JSON is their ``str``): every new
        architecture of a search computes its :attr:`id` from it, and ``json.dumps`` cost 3 µs of its 5.
        ``tests/test_search_space.py`` checks the bytes against ``json.dumps``.
        """
        return (f'{{"bias":{"true" if self.bias else "false"},"embed_dim":{self.embed_dim},'
                f'"mlp_ratio":[{",".join(map(str, self.mlp_ratio))}],"n_head":[{",".join(map(str, self.n_head))}],'
                f'"n_layer":{self.n_layer}}}')

    @functools.cached_property
    def id(self) -> str:  # noqa: A003
        """Stable identifier: the first 16 hex digits of the SHA-1 of the canonical JSON (computed once)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SearchSpace:
    """Choices of one supernet scale, and everything derived from them.

    Build presets with :meth:`from_name`; the constructor validates its arguments.
    """

    name: str
    embed_dim: tuple[int, ...]
    n_layer: tuple[int, ...]
    n_head: tuple[int, ...]
    mlp_ratio: tuple[int, ...]
    vocab_size: int
    padded_vocab_size: int
    block_size: int
    head_size: int
    tokenizer: str
    bias: tuple[bool, ...] = (True, False)

    def __post_init__(self) -> None:
        check_str("SearchSpace name", self.name)
        check_str("SearchSpace tokenizer", self.tokenizer)
        for name in ("embed_dim", "n_layer", "n_head", "mlp_ratio"):
            vals = getattr(self, name)
            if not isinstance(vals, (tuple, list)):
                raise InvalidType(f"SearchSpace {name!r}: needs a tuple of positive ints, got {vals!r}")
            if not vals or any(_check_int(name, v, "SearchSpace") <= 0 for v in vals):
                raise InvalidInput(f"SearchSpace {name!r}: needs positive ints, got {vals!r}")
            object.__setattr__(self, name, tuple(sorted(int(v) for v in vals)))
        for name in ("vocab_size", "padded_vocab_size", "block_size", "head_size"):
            _check_positive(name, _check_int(name, getattr(self, name), "SearchSpace"), "SearchSpace")
        if not isinstance(self.bias, (tuple, list)) or not self.bias or \
                any(not isinstance(b, (bool, np.bool_)) for b in self.bias):
            raise InvalidInput(f"SearchSpace 'bias': needs a non-empty tuple of bools, got {self.bias!r}")
        object.__setattr__(self, "bias", tuple(bool(b) for b in self.bias))
        if self.padded_vocab_size < self.vocab_size:
            raise InvalidInput(
                f"padded_vocab_size ({self.padded_vocab_size}) < vocab_size ({self.vocab_size})"
            )

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_name(cls, name: str) -> SearchSpace:
        """A preset scale: ``tiny``, ``s``, ``m`` or ``l``."""
        if not isinstance(name, str) or name not in PRESETS:
            raise InvalidInput(f"unknown scale {name!r}; allowed: {sorted(PRESETS)}")
        return PRESETS[name]

    @property
    def choices(self) -> dict[str, list]:
        """All choices, keyed by :class:`Arch` field."""
        return {
            "embed_dim": list(self.embed_dim),
            "n_layer": list(self.n_layer),
            "n_head": list(self.n_head),
            "mlp_ratio": list(self.mlp_ratio),
            "bias": list(self.bias),
        }

    @property
    def max_layers(self) -> int:
        return max(self.n_layer)

    @property
    def size(self) -> int:
        """Number of distinct architectures in the space."""
        per_layer = len(self.n_head) * len(self.mlp_ratio)
        return len(self.embed_dim) * len(self.bias) * sum(per_layer**n for n in self.n_layer)

    # ---------------------------------------------------------------- sampling
    def sample(self, seed: int | np.random.Generator = 0) -> Arch:
        """Uniform sample; per-layer choices are drawn independently.

        Args:
            seed: An int seed (deterministic) or a numpy Generator to draw from.
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed("seed", seed))
        n_layer = int(rng.choice(self.n_layer))
        return Arch(
            embed_dim=int(rng.choice(self.embed_dim)),
            n_layer=n_layer,
            n_head=tuple(int(h) for h in rng.choice(self.n_head, size=n_layer)),
            mlp_ratio=tuple(int(r) for r in rng.choice(self.mlp_ratio, size=n_layer)),
            bias=bool(rng.choice(self.bias)),
        )

    def sample_unique(self, n: int, seed: int = 0) -> list[Arch]:
        """``n`` distinct uniform samples (deterministic in ``seed``).

        Raises:
            InvalidInput: ``n`` is negative or larger than the space (:attr:`size`).
        """
        n = check_int("n", n, min=0)
        if n > self.size:
            raise InvalidInput(f"n = {n} distinct samples asked for, but scale {self.name!r} has only "
                               f"{self.size} architectures; allowed: 0 <= n <= {self.size}")
        rng = np.random.default_rng(check_seed("seed", seed))
        seen: dict[str, Arch] = {}
        while len(seen) < n:
            a = self.sample(rng)
            seen.setdefault(a.id, a)
        return list(seen.values())

    def _extreme(self, pick: Any, bias: bool) -> Arch:
        n = pick(self.n_layer)
        return Arch(pick(self.embed_dim), n, (pick(self.n_head),) * n, (pick(self.mlp_ratio),) * n, bias)

    def smallest(self) -> Arch:
        """The smallest sub-network (every choice at its minimum, no bias)."""
        return self._extreme(min, False if False in self.bias else self.bias[0])

    def largest(self) -> Arch:
        """The largest sub-network (every choice at its maximum, with bias)."""
        return self._extreme(max, True if True in self.bias else self.bias[0])

    # -------------------------------------------------------------- validation
    def validate(self, arch: Arch) -> Arch:
        """Check that ``arch`` lies in this space; returns it, or raises ValueError."""
        if not isinstance(arch, Arch):
            raise InvalidType(f"expected an hwgpt.Arch, got {type(arch).__name__}")
        checks = [
            ("embed_dim", arch.embed_dim, self.embed_dim),
            ("n_layer", arch.n_layer, self.n_layer),
            ("bias", arch.bias, self.bias),
        ]
        checks += [(f"n_head[{i}]", h, self.n_head) for i, h in enumerate(arch.n_head)]
        checks += [(f"mlp_ratio[{i}]", r, self.mlp_ratio) for i, r in enumerate(arch.mlp_ratio)]
        for name, value, allowed in checks:
            if value not in allowed:
                raise InvalidInput(
                    f"Arch field {name!r} = {value!r} is not in scale {self.name!r}; "
                    f"allowed: {list(allowed)}"
                )
        return arch

    # ---------------------------------------------------------------- encoding
    @property
    def feature_names(self) -> list[str]:
        """Names of the columns of :meth:`encode`."""
        L = self.max_layers
        return (
            ["embed_dim", "n_layer", "bias"]
            + [f"n_head_{i}" for i in range(L)]
            + [f"mlp_ratio_{i}" for i in range(L)]
        )

    def encode(self, arch: Arch | list[Arch]) -> np.ndarray:
        """Numeric encoding for surrogates: ``[embed, depth, bias, heads..., ratios...]``.

        Per-layer slots beyond ``n_layer`` are 0. A list of archs gives a 2-D array.
        """
        if isinstance(arch, (list, tuple)):
            return np.stack([self.encode(a) for a in arch]) if arch else np.zeros((0, len(self.feature_names)))
        self.validate(arch)
        pad = self.max_layers - arch.n_layer
        return np.array(
            [arch.embed_dim, arch.n_layer, int(arch.bias)]
            + list(arch.n_head) + [0] * pad
            + list(arch.mlp_ratio) + [0] * pad,
            dtype=np.float64,
        )

    # --------------------------------------------------------------- syne tune
    def to_syne_tune(self) -> dict[str, Any]:
        """Syne Tune config space: one ``choice`` per field and per layer slot.

        Layer slots ``n_head_i``/``mlp_ratio_i`` exist for every ``i < max_layers``; those at
        ``i >= n_layer`` are inactive. ``bias`` is encoded as the ints 1/0 (Syne Tune's
        categorical encoders handle numbers and strings, not bools).
        """
        from syne_tune.config_space import choice

        cs: dict[str, Any] = {
            "embed_dim": choice(list(self.embed_dim)),
            "n_layer": choice(list(self.n_layer)),
            "bias": choice([int(b) for b in self.bias]),
        }
        for i in range(self.max_layers):
            cs[f"n_head_{i}"] = choice(list(self.n_head))
            cs[f"mlp_ratio_{i}"] = choice(list(self.mlp_ratio))
        return cs

    def from_config(self, config: dict[str, Any]) -> Arch:
        """Decode a Syne Tune config (see :meth:`to_syne_tune`) into a validated Arch.

        Raises:
            InvalidInput: a key is missing, or a value is outside the space.
        """
        if not isinstance(config, dict):
            raise InvalidType(f"config must be a dict of Syne Tune choices, got {type(config).__name__}")
        n = _check_int("n_layer", config.get("n_layer"), "config key")
        if n not in self.n_layer:
            raise InvalidInput(f"config key 'n_layer' = {n} is not in scale {self.name!r}; "
                               f"allowed: {list(self.n_layer)}")
        needed = ["embed_dim", "bias"] + [f"{k}_{i}" for i in range(n) for k in ("n_head", "mlp_ratio")]
        missing = [k for k in needed if k not in config]
        if missing:
            raise InvalidInput(f"config is missing keys {missing}; a config of scale {self.name!r} has "
                               f"{sorted(self.to_syne_tune())} (see SearchSpace.to_syne_tune)")
        bias = config["bias"]
        if isinstance(bias, numbers.Integral) and not isinstance(bias, bool) and bias in (0, 1):
            bias = bool(bias)
        arch = Arch(
            embed_dim=config["embed_dim"],
            n_layer=n,
            n_head=tuple(config[f"n_head_{i}"] for i in range(n)),
            mlp_ratio=tuple(config[f"mlp_ratio_{i}"] for i in range(n)),
            bias=bias,
        )
        return self.validate(arch)

    def from_choice_indices(self, indices: np.ndarray) -> list[Arch]:
        """The archs of Syne Tune configs given as choice indices: ``indices[c, k]`` picks the value of the
        ``k``-th key of :meth:`to_syne_tune` (in its order) by its position in that key's choices.

        The same archs as :meth:`from_config` of those configs (keys beyond ``n_layer`` are ignored), without
        re-checking values that are the space's own (a searcher's draws, decoded in bulk). Raises
        :class:`~hwgpt.errors.InvalidInput` if an index is out of its key's range.
        """
        L = self.max_layers
        counts = np.array([len(self.embed_dim), len(self.n_layer), len(self.bias)]
                          + [len(self.n_head), len(self.mlp_ratio)] * L)
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != len(counts) or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidInput(f"choice indices must be an integer array of shape (configs, {len(counts)}) "
                               f"(one per key of scale {self.name!r}'s to_syne_tune()), got {idx.dtype} {idx.shape}")
        if idx.size and ((idx < 0).any() or (idx >= counts).any()):
            raise InvalidInput(f"choice indices out of range: key k takes 0 <= index < {counts.tolist()}[k]")
        embed, layers, bias, heads, ratios = self.embed_dim, self.n_layer, self.bias, self.n_head, self.mlp_ratio
        archs = []
        for row in idx.tolist():
            n = layers[row[1]]
            archs.append(Arch._checked(embed[row[0]], n, tuple(heads[i] for i in row[3:3 + 2 * n:2]),
                                       tuple(ratios[i] for i in row[4:4 + 2 * n:2]), bias[row[2]]))
        return archs

    def to_config(self, arch: Arch) -> dict[str, Any]:
        """Encode an Arch as a Syne Tune config; inactive slots repeat the last layer's choice."""
        self.validate(arch)
        cfg: dict[str, Any] = {"embed_dim": arch.embed_dim, "n_layer": arch.n_layer, "bias": int(arch.bias)}
        for i in range(self.max_layers):
            j = min(i, arch.n_layer - 1)
            cfg[f"n_head_{i}"] = arch.n_head[j]
            cfg[f"mlp_ratio_{i}"] = arch.mlp_ratio[j]
        return cfg


_GPT2 = dict(vocab_size=50257, padded_vocab_size=50304, block_size=1024, head_size=64, tokenizer="gpt2")

PRESETS: dict[str, SearchSpace] = {
    "tiny": SearchSpace(
        "tiny", (64, 128, 256), (4, 5, 6), (2, 4, 8), (2, 3, 4),
        vocab_size=8192, padded_vocab_size=8192, block_size=256, head_size=32, tokenizer="bpe8192",
    ),
    "s": SearchSpace("s", (192, 384, 768), (10, 11, 12), (4, 8, 12), (2, 3, 4), **_GPT2),
    "m": SearchSpace("m", (256, 512, 1024), (22, 23, 24), (8, 12, 16), (2, 3, 4), **_GPT2),
    "l": SearchSpace("l", (320, 640, 1280), (34, 35, 36), (8, 16, 20), (2, 3, 4), **_GPT2),
}
