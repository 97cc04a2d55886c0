"""Errors that know their wire result (after h11's ``status_hint``)."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: ``reason`` says exactly what was wrong, where."""

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot accept; answer ``status_hint`` (or drop a response)."""


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol does not allow: a bug on our side."""
