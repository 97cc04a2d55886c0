"""softswitch: a pure-Python asyncio SIP/RTP softswitch."""

__version__ = "0.1.0"
