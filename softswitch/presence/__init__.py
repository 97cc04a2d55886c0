"""Presence of calls: the dialog event package (RFC 4235) for BLF keys on park slots and extensions."""
