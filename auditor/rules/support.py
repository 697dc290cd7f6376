"""Readings of an Image that several rules share: users, the runtime UID, steps and layers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress

from auditor.model.findings import NotApplicable
from auditor.model.image import Entries, FileEntry, HistoryStep, Image, Layer, Origin
from auditor.redact import describe_step

PASSWD_FILES = ("etc/passwd", "etc/group")
OS_RELEASE_FILES = ("etc/os-release", "usr/lib/os-release")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


def accounts(image: Image, path: str = "etc/passwd") -> dict[str, Account] | None:
    """Accounts from the image's passwd (or group) file; None when it was not read or is absent."""
    data = image.captured(path)
    if data is None:
        return None
    found: dict[str, Account] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) < 3 or line.startswith("#"):
            continue
        try:
            uid = int(fields[2])
            gid = int(fields[3]) if len(fields) > 3 and fields[3] else uid
        except ValueError:
            continue
        home = fields[5] if len(fields) > 5 else ""
        found[fields[0]] = Account(fields[0], uid, gid, home.lstrip("/"))
    return found


@dataclass(frozen=True, slots=True)
class RuntimeUser:
    text: str  # config.User as written
    name: str
    group: str
    uid: int | None  # None when a name could not be resolved
    account: Account | None


def runtime_user(image: Image) -> RuntimeUser:
    """Who the container runs as: config.User read as NAME|UID[:GROUP|GID]."""
    text = image.config.user.strip()
    name, _, group = text.partition(":")
    if not name:
        return RuntimeUser(text, "root", group, 0, None)
    table = accounts(image) or {}
    if name.isdigit():
        uid = int(name)
        account = next((a for a in table.values() if a.uid == uid), None)
        return RuntimeUser(text, name, group, uid, account)
    account = table.get(name)
    if account is not None:
        return RuntimeUser(text, name, group, account.uid, account)
    return RuntimeUser(text, name, group, 0 if name == "root" else None, None)


def step(image: Image, index: int | None) -> HistoryStep | None:
    if index is None or not 0 <= index < len(image.history):
        return None
    return image.history[index]


def layer_step(image: Image, layer: Layer) -> HistoryStep | None:
    return step(image, layer.history_index)


def where(image: Image, layer_number: int) -> str:
    """'layer 3 (history[5]: COPY . ./)' for evidence."""
    found = layer_step(image, image.layer(layer_number))
    return f"layer {layer_number}" + (f" ({describe_step(found)})" if found else "")


def require_content(image: Image) -> None:
    if not image.content_read:
        raise NotApplicable("layer contents were not read (--no-content)")


def _layers_where(
    image: Image, origin: Origin | None, pick: Callable[[Entries], Iterable[object]]
) -> Iterator[tuple[Layer, FileEntry]]:
    """The files each layer adds (of `origin`'s layers when given), deleted later or not, that
    `pick` (one truth value per entry, read from a column) selects, in layer and tar order: a
    FileEntry is made for a selected entry only."""
    for layer in image.layers:
        if layer.content is None or (origin is not None and layer.origin is not origin):
            continue
        entries = layer.content.entries
        for index in compress(range(len(entries)), pick(entries)):
            yield layer, entries[index]


def layer_matches(
    image: Image, test: Callable[[str], object], origin: Origin | None = None
) -> Iterator[tuple[Layer, FileEntry]]:
    """The files whose path passes `test` (a compiled pattern's search or match), as
    _layers_where gives them."""
    return _layers_where(image, origin, lambda entries: map(test, entries.paths))


_COMPONENT_START = "(^|/)"


def any_component(patterns: Iterable[re.Pattern[str]]) -> re.Pattern[str]:
    """One pattern that finds a path any of `patterns` finds, each of them starting at a path
    component ("(^|/)..."): that start is written once, so a search tries the rest of every
    pattern at each component's start only, in one pass (a union of the whole patterns tries
    each of them at every character)."""
    rests = []
    for pattern in patterns:
        if not pattern.pattern.startswith(_COMPONENT_START) or pattern.flags != re.UNICODE:
            raise ValueError(f"not a plain pattern from a component's start: {pattern.pattern}")
        rests.append(f"(?:{pattern.pattern.removeprefix(_COMPONENT_START)})")
    return re.compile(f"(?:^|/)(?:{'|'.join(rests)})")


def layer_modes(
    image: Image, bits: int, origin: Origin | None = None
) -> Iterator[tuple[Layer, FileEntry]]:
    """The files whose mode has any of `bits` set, as _layers_where gives them."""
    return _layers_where(image, origin, lambda entries: map(bits.__and__, entries.modes))


def still_present(image: Image, layer: Layer, entry: FileEntry) -> bool:
    """Whether the final filesystem still shows this layer's version of the path."""
    placed = (image.files or {}).get(entry.path)
    return placed is not None and placed.layer == layer.number


def own_steps(image: Image, *instructions: str) -> list[HistoryStep]:
    return [
        s for s in image.history
        if s.origin is Origin.OWN and (not instructions or s.instruction in instructions)
    ]


# Anywhere in the path, or (lib/) at its start; usr/lib/, usr/share/ and usr/include/ anywhere
# take in their start too.
_LIBRARY = re.compile(
    r"/site-packages/|/dist-packages/|node_modules/|/lib/python|usr/share/|usr/lib/|"
    r"usr/include/|/gems/|/vendor/|^lib/"
)


def is_library_path(path: str) -> bool:
    """Paths where third-party packages live; their tests, keys and caches are not the app's."""
    return _LIBRARY.search(path) is not None
