"""Test images without an engine: layer tars written in memory from small specs, turned into an
`Image` through the real scanner and assembler, or written to disk as `docker save` archives in
the legacy layout (docker 20.10) or the OCI layout (Docker 25+).

    spec = good()                                   # the PRACTICES.md image: every rule passes
    image = build(spec.configured(User="root"))     # change one thing per test
    write_archive(tmp_path / "app.tar", spec, layout="oci")
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from auditor import assess
from auditor.model.image import Image, LayerContent
from auditor.model.policy import Policy
from auditor.model.report import ImageReport, RuleResult
from auditor.rules import ALL_RULES, wanted_files
from auditor.sources.assemble import KnownBase, assemble, image_config
from auditor.sources.layers import Wanted, scan_layer

WANTED = Wanted(wanted_files(ALL_RULES))
CREATED = "2024-05-01T12:00:00Z"
DELETE = object()  # a config key to drop in ImageSpec.configured

# ----------------------------------------------------------------------------- layer members


@dataclass(frozen=True)
class Member:
    """One tar entry of a layer."""

    path: str
    kind: Literal["file", "dir", "symlink", "hardlink"] = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""


def file(path: str, data: bytes | str = b"", *, mode: int = 0o644, uid: int = 0, gid: int = 0,
         size: int | None = None) -> Member:
    """A regular file; `size` makes one of that many zero bytes (for size-driven rules)."""
    raw = data.encode() if isinstance(data, str) else data
    if size is not None:
        raw = b"\0" * size
    return Member(path, "file", raw, mode, uid, gid)


def directory(path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Member:
    return Member(path, "dir", b"", mode, uid, gid)


def symlink(path: str, target: str) -> Member:
    return Member(path, "symlink", mode=0o777, linkname=target)


def hardlink(path: str, target: str) -> Member:
    return Member(path, "hardlink", linkname=target)


def whiteout(path: str) -> Member:
    """Deletes `path` (and all below it) from lower layers."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return file(f"{parent}/.wh.{name}" if parent else f".wh.{name}")


def opaque(path: str) -> Member:
    """Hides everything lower layers put below directory `path`."""
    return file(f"{path.rstrip('/')}/.wh..wh..opq")


def layer_tar(members: Iterable[Member], *, compress: bool = False) -> bytes:
    """A layer tar, byte-for-byte reproducible (mtime 0), optionally gzip-compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.path)
            info.mode, info.uid, info.gid, info.mtime = member.mode, member.uid, member.gid, 0
            if member.kind == "file":
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
            }[member.kind]
            info.linkname = member.linkname
            tar.addfile(info)
    data = buffer.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def scan(members: Iterable[Member], *, compress: bool = False,
         wanted: Wanted = WANTED) -> LayerContent:
    return scan_layer(io.BytesIO(layer_tar(members, compress=compress)), wanted)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- history steps


@dataclass(frozen=True)
class Step:
    """One history entry; with `members` not None it also adds a layer holding them."""

    created_by: str
    members: tuple[Member, ...] | None = None
    comment: str = ""
    created: str = CREATED

    @property
    def makes_layer(self) -> bool:
        return self.members is not None

    def history_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"created": self.created, "created_by": self.created_by}
        if self.comment:
            entry["comment"] = self.comment
        if not self.makes_layer:
            entry["empty_layer"] = True
        return entry


def nop(instruction: str) -> Step:
    """A classic-builder metadata step: `/bin/sh -c #(nop)  EXPOSE 8000`, no layer."""
    return Step(f"/bin/sh -c #(nop)  {instruction}")


def run(command: str, *members: Member, args: Mapping[str, str] | None = None) -> Step:
    """A classic-builder RUN step that adds a layer: `|1 K=V /bin/sh -c command`."""
    prefix = ""
    if args:
        prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " "
    return Step(f"{prefix}/bin/sh -c {command}", tuple(members))


def copy(body: str, *members: Member, instruction: str = "COPY") -> Step:
    """A classic-builder COPY (or ADD) step: `/bin/sh -c #(nop) COPY multi:... in ./`."""
    return Step(f"/bin/sh -c #(nop) {instruction} {body}", tuple(members))


def buildkit(line: str, *members: Member, layer: bool = False) -> Step:
    """A BuildKit step: `RUN ... # buildkit`, comment buildkit.dockerfile.v0."""
    return Step(line, tuple(members) if (layer or members) else None,
                comment="buildkit.dockerfile.v0")


# ----------------------------------------------------------------------------- the image spec


def passwd(*extra: str) -> Member:
    lines = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/:/sbin/nologin",
             *extra]
    return file("etc/passwd", "\n".join(lines) + "\n")


def group(*extra: str) -> Member:
    lines = ["root:x:0:root", "nogroup:x:65534:", *extra]
    return file("etc/group", "\n".join(lines) + "\n")


OS_RELEASE = 'NAME="Alpine Linux"\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
APK_INSTALLED = "P:musl\nV:1.2.4\n\nP:busybox\nV:1.36.1\n\nP:ca-certificates-bundle\nV:1\n"
SITE = "usr/local/lib/python3.9/site-packages"
USER_SITE = "home/myuser/.local/lib/python3.9/site-packages"


def base_steps() -> tuple[Step, ...]:
    """A python:3.9-alpine-like base: ends with CMD, as base images do."""
    return (
        copy("file:4b1be1de1a1e5aa608c688cad2824587262081866180b7e7e0b6ee3a9d6a4e43 in / ",
             directory("etc"), passwd(), group(), file("etc/os-release", OS_RELEASE),
             directory("bin"), file("bin/busybox", b"\x7fELF busybox", mode=0o755),
             symlink("bin/sh", "/bin/busybox"), directory("lib/apk/db"),
             file("lib/apk/db/installed", APK_INSTALLED), directory("tmp", mode=0o1777),
             instruction="ADD"),
        nop('CMD ["/bin/sh"]'),
        nop("ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"),
        nop("ENV PYTHON_VERSION=3.9.18"),
        run("set -eux; apk add --no-cache --virtual .build-deps gcc; ./configure; make; "
            "apk del --no-network .build-deps",
            directory("usr/local/bin"),
            file("usr/local/bin/python3.9", b"\x7fELF python", mode=0o755),
            symlink("usr/local/bin/python", "python3.9"),
            file("usr/local/lib/python3.9/os.py", "import sys\n"),
            directory(SITE),
            directory(f"{SITE}/pip-23.0.1.dist-info"),
            file(f"{SITE}/pip-23.0.1.dist-info/METADATA", "Name: pip\n")),
        nop('CMD ["python3"]'),
    )


def own_steps() -> tuple[Step, ...]:
    """The PRACTICES.md Dockerfile, as the classic builder records it (EXPOSE and CMD are in
    `tail`)."""
    return (
        nop("ARG USER_NAME=myuser"),
        run("adduser -D $USER_NAME",
            passwd("myuser:x:1000:1000:Linux User,,,:/home/myuser:/bin/sh"),
            group("myuser:x:1000:"),
            file("etc/shadow", "root:*::0:::::\nmyuser:!:19000:0:99999:7:::\n", mode=0o640),
            directory("home/myuser", uid=1000, gid=1000),
            args={"USER_NAME": "myuser"}),
        Step("/bin/sh -c #(nop) WORKDIR /myapp", (directory("myapp"),)),
        copy("multi:9c0e2f1f0bdf6c8b0f6f1a3b2e5f1a4c5e6d7f8091a2b3c4d5e6f708192a3b4c in ./",
             file("myapp/requirements.txt", "flask==3.0.0\n"),
             file("myapp/main.py", "print('hello')\n")),
        nop("USER myuser"),
        run("pip install --user --no-cache-dir -r requirements.txt",
            directory("home/myuser/.local", uid=1000, gid=1000),
            directory(USER_SITE, uid=1000, gid=1000),
            directory(f"{USER_SITE}/flask", uid=1000, gid=1000),
            file(f"{USER_SITE}/flask/__init__.py", "", uid=1000, gid=1000),
            directory(f"{USER_SITE}/flask-3.0.0.dist-info", uid=1000, gid=1000),
            file(f"{USER_SITE}/flask-3.0.0.dist-info/METADATA", "Name: flask\n", uid=1000,
                 gid=1000)),
    )


TAIL = (nop("EXPOSE 8000"), nop('CMD ["python" "main.py"]'))

GOOD_CONFIG: Mapping[str, Any] = {
    "User": "myuser",
    "Env": [
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHON_VERSION=3.9.18",
    ],
    "Cmd": ["python", "main.py"],
    "WorkingDir": "/myapp",
    "ExposedPorts": {"8000/tcp": {}},
    # a HEALTHCHECK set in the config only (as `docker commit --change` would), so that no
    # history step is added to the PRACTICES.md steps
    "Healthcheck": {"Test": ["CMD", "python", "health.py"], "Interval": 30_000_000_000},
    "Labels": None,
}


@dataclass(frozen=True)
class ImageSpec:
    """An image as base steps + own steps + trailing metadata steps, and its runtime config.

    `history` replaces the config-style history written (e.g. [] or a jib-made one);
    `document` is merged into the image config document of an archive (e.g. {"config": None}).
    """

    base: tuple[Step, ...] = field(default_factory=base_steps)
    own: tuple[Step, ...] = field(default_factory=own_steps)
    tail: tuple[Step, ...] = TAIL
    config: Mapping[str, Any] = field(default_factory=lambda: dict(GOOD_CONFIG))
    tags: tuple[str, ...] = ("app:1",)
    history: Sequence[Mapping[str, Any]] | None = None
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> tuple[Step, ...]:
        return (*self.base, *self.own, *self.tail)

    @property
    def layer_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.makes_layer)

    def configured(self, **changes: Any) -> ImageSpec:
        """The same image with config keys changed (DELETE drops a key)."""
        config = {**self.config, **changes}
        config = {k: v for k, v in config.items() if v is not DELETE}
        return dataclasses.replace(self, config=config)

    def adding(self, *steps: Step) -> ImageSpec:
        """Own steps appended before the trailing EXPOSE and CMD."""
        return dataclasses.replace(self, own=(*self.own, *steps))

    def with_own(self, *steps: Step) -> ImageSpec:
        return dataclasses.replace(self, own=steps)

    def with_tail(self, *steps: Step) -> ImageSpec:
        return dataclasses.replace(self, tail=steps)

    def tagged(self, *tags: str) -> ImageSpec:
        return dataclasses.replace(self, tags=tags)

    def history_entries(self) -> list[dict[str, Any]]:
        if self.history is not None:
            return [dict(h) for h in self.history]
        return [s.history_entry() for s in self.steps]

    def layer_tars(self, *, compress: bool = False) -> list[bytes]:
        return [layer_tar(s.members or (), compress=compress) for s in self.layer_steps]

    def diff_ids(self) -> list[str]:
        return [digest(t) for t in self.layer_tars()]

    def config_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": dict(self.config),
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids()},
            "history": self.history_entries(),
        }
        document.update(self.document)
        return document


def good() -> ImageSpec:
    """The image PRACTICES.md describes: every rule passes or does not apply."""
    return ImageSpec()


def bad() -> ImageSpec:
    """Something wrong in most practices."""
    return good().adding(
        copy("dir:5e6d7f in ./", file("myapp/.env", "A=1"), file("myapp/.git/HEAD", "x"),
             file("myapp/Dockerfile", "FROM x")),
        run("pip install -r requirements.txt",
            file("root/.cache/pip/http/a", size=2_000_000),
            file("usr/local/lib/python3.9/site-packages/x-1.0.dist-info/METADATA")),
        run("apt-get install -y gcc", file("usr/bin/gcc"), file("var/lib/apt/lists/x", size=10)),
    ).with_tail(nop("EXPOSE 22"), nop('CMD ["/bin/sh" "-c" "python main.py"]')).configured(
        User="", ExposedPorts={"22/tcp": {}}, Cmd=["/bin/sh", "-c", "python main.py"],
        Env=[*GOOD_CONFIG["Env"], "API_TOKEN=abcdef123456"], WorkingDir="",
    )


def build(spec: ImageSpec, *, content: bool = True, known_base: KnownBase | None = None,
          reference: str = "app:1", wanted: Wanted = WANTED) -> Image:
    """The Image the real scanner and assembler make of `spec`, without an archive."""
    tars = spec.layer_tars()
    contents = [scan_layer(io.BytesIO(t), wanted, f"layer {i + 1}") for i, t in enumerate(tars)]
    document = spec.config_document()
    return assemble(
        reference=reference,
        image_id=digest(json.dumps(document, sort_keys=True).encode()),
        config=image_config(document["config"]),
        history=document["history"] or [],
        diff_ids=[digest(t) for t in tars],
        layer_sizes=[len(t) for t in tars],
        contents=contents if content else None,
        known_base=known_base,
        repo_tags=spec.tags,
    )


RULES = {r.info.id: r for r in ALL_RULES}


def report(subject: ImageSpec | Image, policy: Policy | None = None,
           **options: Any) -> ImageReport:
    """The ImageReport of every rule on `subject` (a spec is built first, with `options`)."""
    image = subject if isinstance(subject, Image) else build(subject, **options)
    return assess.run(image, ALL_RULES, policy or Policy())


def check(subject: ImageSpec | Image, rule_id: str, policy: Policy | None = None,
          **options: Any) -> RuleResult:
    """One rule's result on `subject`, as the runner makes it."""
    image = subject if isinstance(subject, Image) else build(subject, **options)
    return assess.check(image, RULES[rule_id], policy or Policy())


# ----------------------------------------------------------------------------- archives

Layout = Literal["legacy", "oci"]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class _Writer:
    """Collects archive members by name: bytes for files, ('symlink', target) for links."""

    files: dict[str, bytes | tuple[str, str]] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        self.files.setdefault(name, data)

    def link(self, name: str, target: str) -> None:
        self.files.setdefault(name, ("symlink", target))

    def tar_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            folders = sorted({name.rsplit("/", 1)[0] + "/" for name in self.files if "/" in name})
            for name in sorted([*folders, *self.files]):
                info = tarfile.TarInfo(name.rstrip("/"))
                info.mtime = 0
                if name.endswith("/"):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    continue
                value = self.files[name]
                if isinstance(value, tuple):
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, value[1], 0o777
                    tar.addfile(info)
                    continue
                info.size, info.mode = len(value), 0o644
                tar.addfile(info, io.BytesIO(value))
        return buffer.getvalue()

    def write_dir(self, root: Path) -> None:
        for name, value in sorted(self.files.items()):
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, tuple):
                os.symlink(value[1], target)
            else:
                target.write_bytes(value)


def _legacy(writer: _Writer, specs: Sequence[ImageSpec], omit: set[int]) -> None:
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    first_by_diff: dict[str, str] = {}
    for spec in specs:
        document = spec.config_document()
        config = _json(document)
        config_hex = hashlib.sha256(config).hexdigest()
        writer.add(f"{config_hex}.json", config)
        parent = ""
        members = []
        tars = spec.layer_tars()
        for number, data in enumerate(tars, start=1):
            diff_id = digest(data)
            last = number == len(tars)
            v1 = hashlib.sha256(f"{parent}|{diff_id}|{config_hex if last else ''}".encode())
            v1_id = v1.hexdigest()
            member = f"{v1_id}/layer.tar"
            members.append(member)
            v1_json: dict[str, Any] = {"id": v1_id, "created": "1970-01-01T00:00:00Z",
                                       "os": "linux"}
            if parent:
                v1_json["parent"] = parent
            writer.add(f"{v1_id}/json", _json(v1_json))
            writer.add(f"{v1_id}/VERSION", b"1.0")
            parent = v1_id
            if number in omit:
                continue
            first = first_by_diff.setdefault(diff_id, member)
            if first != member:
                # docker 20.10 stores a layer seen before as a link to the first copy
                writer.link(member, f"../{first}")
            else:
                writer.add(member, data)
        manifest.append({"Config": f"{config_hex}.json", "RepoTags": list(spec.tags) or None,
                         "Layers": members})
        for tag in spec.tags:
            name, _, version = tag.rpartition(":")
            repositories.setdefault(name, {})[version] = parent
    writer.add("manifest.json", _json(manifest))
    if repositories:
        writer.add("repositories", _json(repositories))


def _oci(writer: _Writer, specs: Sequence[ImageSpec], omit: set[int], compress_layers: bool,
         index_only: bool, nested_index: bool) -> None:
    manifest_json = []
    descriptors: list[dict[str, Any]] = []
    for spec in specs:
        config = _json(spec.config_document())
        config_digest = digest(config)
        writer.add(f"blobs/sha256/{config_digest[7:]}", config)
        layers = []
        names = []
        for number, data in enumerate(spec.layer_tars(compress=compress_layers), start=1):
            blob = digest(data)
            names.append(f"blobs/sha256/{blob[7:]}")
            layers.append({
                "mediaType": "application/vnd.oci.image.layer.v1.tar"
                + ("+gzip" if compress_layers else ""),
                "digest": blob,
                "size": len(data),
            })
            if number not in omit:
                writer.add(f"blobs/sha256/{blob[7:]}", data)
        manifest = _json({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": layers,
        })
        manifest_digest = digest(manifest)
        writer.add(f"blobs/sha256/{manifest_digest[7:]}", manifest)
        manifest_json.append({"Config": f"blobs/sha256/{config_digest[7:]}",
                              "RepoTags": list(spec.tags), "Layers": names})
        plain = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": manifest_digest, "size": len(manifest),
                 "platform": {"architecture": "amd64", "os": "linux"}}
        if nested_index:
            plain = _nest(writer, plain)
        for tag in spec.tags or ("",):
            descriptor = dict(plain)
            if tag:
                name, _, version = tag.rpartition(":")
                full = name if "/" in name else f"docker.io/library/{name}"
                descriptor["annotations"] = {
                    "io.containerd.image.name": f"{full}:{version}",
                    "org.opencontainers.image.ref.name": version,
                }
            descriptors.append(descriptor)
    writer.add("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    writer.add("index.json", _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    }))
    if not index_only:
        writer.add("manifest.json", _json(manifest_json))


def _nest(writer: _Writer, manifest: dict[str, Any]) -> dict[str, Any]:
    """An image index holding the manifest and a BuildKit attestation manifest beside it."""
    statement = _json({"_type": "https://in-toto.io/Statement/v0.1"})
    attestation_config = _json({"architecture": "unknown", "os": "unknown"})
    writer.add(f"blobs/sha256/{digest(statement)[7:]}", statement)
    writer.add(f"blobs/sha256/{digest(attestation_config)[7:]}", attestation_config)
    attestation = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(attestation_config), "size": len(attestation_config)},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": digest(statement),
                    "size": len(statement)}],
    })
    writer.add(f"blobs/sha256/{digest(attestation)[7:]}", attestation)
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            manifest,
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest(attestation), "size": len(attestation),
             "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": manifest["digest"]}},
        ],
    })
    writer.add(f"blobs/sha256/{digest(index)[7:]}", index)
    return {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(index),
            "size": len(index)}


def write_archive(
    path: Path,
    *specs: ImageSpec,
    layout: Layout = "legacy",
    compress: bool = False,
    compress_layers: bool = False,
    index_only: bool = False,
    nested_index: bool = False,
    omit_layers: Iterable[int] = (),
    as_directory: bool = False,
) -> Path:
    """A `docker save` archive of `specs` at `path` (a folder with as_directory).

    layout="legacy" is docker 20.10's (manifest.json, <id>/layer.tar, a repeated layer as a
    symlink); "oci" is Docker 25+'s (index.json, manifest.json, blobs/sha256/...), optionally
    with gzip layer blobs, without manifest.json (index_only), or with each image behind a
    nested index beside an attestation. omit_layers drops those layer numbers' members.
    """
    writer = _Writer()
    omit = set(omit_layers)
    if layout == "legacy":
        _legacy(writer, specs or (good(),), omit)
    else:
        _oci(writer, specs or (good(),), omit, compress_layers, index_only, nested_index)
    if as_directory:
        path.mkdir(parents=True, exist_ok=True)
        writer.write_dir(path)
        return path
    data = writer.tar_bytes()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path
