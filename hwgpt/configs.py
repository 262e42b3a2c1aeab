"""Where the Hydra configs live: ``hwgpt/conf`` inside the package.

In the repository ``hwgpt/conf`` is a link to the top-level ``conf/`` (the one tree every command and
test composes from); a built wheel holds the files themselves, so an installed package finds its
configs without the repository (``hwgpt-search``, ``hwgpt-profile`` ... from any directory).
"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent / "conf"
"""The root of the config groups (``search.yaml``, ``device/``, ``optimizer/`` ...)."""
DEVICE_CONF_DIR = CONF_DIR / "device"
"""The device configs (``conf/device/<name>.yaml``)."""
