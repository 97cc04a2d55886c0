"""Phones that set themselves up (issue 17): the provisioning server.

``profile`` works out what a device's files say (pure: the config, the device and ``now`` in,
values out); ``files`` names the files each vendor's phones ask for and renders them from the
templates in ``templates/`` (one per vendor family: a new model is a template); ``server``
serves them over HTTP(S) on their own port, to each device only its own."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
