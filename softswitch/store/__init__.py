"""Repositories: a protocol, an in-memory implementation and an SQLAlchemy (async) one."""

from .base import BindingStore, open_store
from .memory import MemoryBindingStore

__all__ = ["BindingStore", "MemoryBindingStore", "open_store"]
