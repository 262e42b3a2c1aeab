"""Experiment-tracker settings shared by training and search (conf/logger/)."""

from __future__ import annotations

import os


def wandb_mode(mode: str = "auto") -> str:
    """Resolve ``auto``: online when ``WANDB_API_KEY`` is set, offline otherwise."""
    allowed = ("auto", "offline", "online", "disabled")
    if mode not in allowed:
        raise ValueError(f"logger.mode={mode!r}; allowed: {list(allowed)}")
    if mode != "auto":
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"
