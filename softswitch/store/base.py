"""The repository protocol the services use (DESIGN.md: Store and config)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..registrar.core import Binding, Change


class BindingStore(Protocol):
    async def load_bindings(self, now: float) -> list[Binding]:
        """Every binding that has not expired at ``now``."""

    async def list_bindings(self, now: float, account: str | None = None) -> list[Binding]:
        """Live bindings, optionally of one account, by account/extension."""

    async def apply(self, changes: Sequence[Change]) -> None:
        """Persist saved and removed bindings, all in one transaction."""

    async def purge_expired(self, now: float) -> int:
        """Delete expired rows; returns how many."""

    async def close(self) -> None: ...


async def open_store(url: str) -> BindingStore:
    if url == "memory://":
        from .memory import MemoryBindingStore

        return MemoryBindingStore()
    from .sql import SqlBindingStore

    store = SqlBindingStore(url)
    await store.migrate()
    return store
