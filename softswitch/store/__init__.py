"""Repositories: a protocol, an in-memory implementation and an SQLAlchemy (async) one."""

from .base import BindingStore, CallStore, ParkStore, Store, open_store
from .memory import MemoryStore

__all__ = ["BindingStore", "CallStore", "MemoryStore", "ParkStore", "Store", "open_store"]
