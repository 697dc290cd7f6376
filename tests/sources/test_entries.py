"""A layer's entries kept by column and the merged filesystem kept as one int per path: both
give rules exactly what a tuple of FileEntry and a dict of PlacedFile gave."""

from __future__ import annotations

import random
from pathlib import Path

from auditor.model.image import (
    Entries,
    FileEntry,
    FileKind,
    LayerContent,
    PlacedFile,
    PlacedFiles,
)
from auditor.sources.cache import LayerCache
from auditor.sources.layers import merge
from tests.support.factory import WANTED, directory, file, hardlink, scan, symlink

DIFF_ID = "sha256:" + "cd" * 32


def _entry(rng: random.Random, paths: list[str]) -> FileEntry:
    kind = rng.choice(list(FileKind))
    link = rng.choice(paths) if kind in (FileKind.SYMLINK, FileKind.HARDLINK) else ""
    return FileEntry(rng.choice(paths), rng.randrange(1 << 40) if kind is FileKind.FILE else 0,
                     kind, rng.choice((0o644, 0o755, 0o4755)), rng.randrange(70000),
                     rng.randrange(70000), link)


def test_entries_give_back_what_was_put_in() -> None:
    rng = random.Random(14)
    paths = [f"usr/lib/f{n}" for n in range(50)] + ["caf\udce9", "a\nb"]
    given = [_entry(rng, paths) for _ in range(300)]
    entries = Entries.of(given)
    assert list(entries) == given
    assert [entries[n] for n in range(len(given))] == given
    assert entries[-1] == given[-1] and list(entries[10:20]) == given[10:20]
    assert len(entries) == len(given) and entries == Entries.of(iter(given))
    assert entries != Entries.of(given[:-1])


def test_a_uid_past_64_bits_is_kept_exactly_and_not_cached(tmp_path: Path) -> None:
    content = scan([file("a", uid=1 << 70, gid=5), file("b", uid=7)])
    assert [(e.path, e.uid, e.gid) for e in content.entries] == [("a", 1 << 70, 5), ("b", 7, 0)]
    cache = LayerCache(tmp_path)
    cache.put(DIFF_ID, WANTED, content)
    assert cache.get(DIFF_ID, WANTED) is None and not cache.has(DIFF_ID, WANTED)


def test_a_large_layer_survives_the_cache(tmp_path: Path) -> None:
    rng = random.Random(41)
    paths = [f"d{n % 97}/f{n}" for n in range(20000)] + ["\udcff\udcfe"]
    content = LayerContent(Entries.of([_entry(rng, paths) for _ in range(30000)]),
                           whiteouts=("x",), opaque_dirs=("y",), tar_size=123,
                           zero_files=("var/log/faillog",))
    cache = LayerCache(tmp_path)
    cache.put(DIFF_ID, WANTED, content)
    assert cache.get(DIFF_ID, WANTED) == content


def test_placed_files_behave_as_the_dict_merge_filled() -> None:
    """merge() fills PlacedFiles by layers and deletions as it filled a dict of PlacedFile; the
    two agree in content and order (a path placed again keeps its place, one deleted and placed
    again goes last) after any such sequence."""
    rng = random.Random(7)
    names = ["etc", "etc/passwd", "app", "app/a.py", "app/lib", "app/lib/x.so", "tmp", "tmp/t"]
    for _ in range(40):
        placed, expected = PlacedFiles(), dict[str, PlacedFile]()
        for number in range(1, rng.randrange(2, 7)):
            for path in rng.sample(list(expected), rng.randrange(len(expected) + 1)):
                del placed[path], expected[path]
            members = [rng.choice((file, directory, lambda p: symlink(p, "etc"),
                                   lambda p: hardlink(p, "etc/passwd")))(path)
                       for path in rng.sample(names, rng.randrange(len(names)))]
            members.append(file(rng.choice(names), "again"))  # a path twice in one layer
            entries = scan(members).entries
            placed.add_layer(number, entries)
            for entry in entries:
                expected[entry.path] = PlacedFile(entry, number)
        assert list(placed.items()) == list(expected.items())
        assert list(placed) == list(expected) and len(placed) == len(expected)
        assert all(placed[path] == file_ and placed.get(path) == file_ and path in placed
                   for path, file_ in expected.items())
        assert "nowhere" not in placed and placed.get("nowhere") is None
        assert placed == expected


def test_merge_gives_placed_files_of_every_layer() -> None:
    lower, upper = scan([file("a"), file("b")]), scan([file("b", "new"), directory("c")])
    merged = merge([(1, lower), (2, upper)])
    assert dict(merged) == {"a": PlacedFile(lower.entries[0], 1),
                            "b": PlacedFile(upper.entries[0], 2),
                            "c": PlacedFile(upper.entries[1], 2)}
