"""The messages the switch keeps (mailboxes.py): a renumbered extension's mailbox moves with
it, files and greeting included; a stopped extension's mailbox goes, so that the number's
next holder does not hear it."""

from __future__ import annotations

from pathlib import Path

from softswitch.mailboxes import Mailboxes
from softswitch.store.memory import MemoryStore
from softswitch.store.records import MessageRow


async def mailbox_of_102(tmp_path: Path) -> tuple[Mailboxes, list[tuple[str, str, tuple[int, int]]], Path]:
    store = MemoryStore()
    directory = tmp_path / "acme" / "102"
    directory.mkdir(parents=True)
    for name in ("m1.wav", "m2.wav", "greeting.wav"):
        (directory / name).write_bytes(b"RIFF")
    for i, heard in ((1, 150.0), (2, None)):
        await store.add_message(MessageRow(f"m{i}", "acme", "102", "e1", "101", 100.0 * i, 3.0, str(directory / f"m{i}.wav"),
                                           heard))
    await store.add_message(MessageRow("x", "acme", "103", None, "101", 50.0, 3.0, str(tmp_path / "acme" / "103" / "x.wav")))
    mailboxes = Mailboxes(store)
    await mailboxes.start()
    lamps: list[tuple[str, str, tuple[int, int]]] = []
    mailboxes.on_change = lambda account, mailbox, counts: lamps.append((account, mailbox, counts))
    return mailboxes, lamps, directory


async def test_a_renumbered_extension_keeps_its_messages_and_greeting(tmp_path: Path) -> None:
    mailboxes, lamps, directory = await mailbox_of_102(tmp_path)
    await mailboxes.renumber("acme", "102", "202", directory, tmp_path / "acme" / "202")
    assert mailboxes.of("acme", "102") == (0, 0) and mailboxes.of("acme", "202") == (1, 1)
    assert lamps == [("acme", "102", (0, 0)), ("acme", "202", (1, 1))]
    moved = await mailboxes.store.list_messages("acme", "202")
    assert [(m.id, m.path) for m in moved] == [(f"m{i}", str(tmp_path / "acme" / "202" / f"m{i}.wav")) for i in (1, 2)]
    assert sorted(f.name for f in (tmp_path / "acme" / "202").iterdir()) == ["greeting.wav", "m1.wav", "m2.wav"]
    assert not directory.exists() and mailboxes.of("acme", "103") == (1, 0)  # another mailbox untouched


async def test_a_stopped_extensions_mailbox_goes_with_it(tmp_path: Path) -> None:
    mailboxes, lamps, directory = await mailbox_of_102(tmp_path)
    await mailboxes.remove("acme", "102", directory)
    assert mailboxes.of("acme", "102") == (0, 0) and lamps == [("acme", "102", (0, 0))]
    assert await mailboxes.store.list_messages("acme", "102") == [] and not directory.exists()
    assert [m.id for m in await mailboxes.store.list_messages()] == ["x"]
    await mailboxes.remove("acme", "104", tmp_path / "acme" / "104")  # no mailbox: nothing to do
    assert len(lamps) == 1
