"""What the switch serves to browsers: the browser phone's page and the console (issue 16),
and the vendored scripts they load (``static/vendor``, rebuilt by ``scripts/vendor_jssip``)."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"
JSSIP = STATIC / "vendor" / "jssip-3.13.8.min.js"  # SIP over WebSocket in the page (RFC 7118), MIT
