"""Repositories: a protocol, an in-memory implementation and an SQLAlchemy (async) one,
keeping the store's own rows (records.py)."""

from .base import BindingStore, CallStore, ParkStore, Store, open_store
from .memory import MemoryStore
from .records import (
    CallRow,
    LegMediaRow,
    ParkedRow,
    RegistrationChange,
    RegistrationRemoved,
    RegistrationRow,
    RegistrationSaved,
)

__all__ = [
    "BindingStore", "CallRow", "CallStore", "LegMediaRow", "MemoryStore", "ParkStore", "ParkedRow", "RegistrationChange",
    "RegistrationRemoved", "RegistrationRow", "RegistrationSaved", "Store", "open_store",
]
