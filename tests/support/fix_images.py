"""In-memory audits for the planner's tests: an image made, as far as the planner reads it, from
a Dockerfile's final stage (its history worded as BuildKit words it, one layer per RUN, COPY and
ADD holding the files a test gives), with findings as the rules report them.

    audit = audited(DOCKERFILE, layers={5: [file("app/.env")]},
                    findings=[found("IA401", 5, "app/.env")])
    audit.fixed(context("Dockerfile", ".env"))      # the Dockerfile after the plan
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from auditor.dockerfile import DockerfileMapping, Instruction, match_history, parse_dockerfile
from auditor.fix import Context, Plan, Target, apply_edits, plan_fix
from auditor.model.findings import Finding, RuleInfo, Severity
from auditor.model.image import (
    BaseBoundary,
    Entries,
    FileEntry,
    FileKind,
    HistoryStep,
    Image,
    ImageConfig,
    Layer,
    LayerContent,
    Origin,
    PlacedFile,
)
from auditor.model.report import ImageReport, ScoredFinding

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def file(path: str, size: int = 10, *, uid: int = 0) -> FileEntry:
    return FileEntry(path, size, FileKind.FILE, 0o644, uid, uid)


def folder(path: str, *, uid: int = 0) -> FileEntry:
    return FileEntry(path, 0, FileKind.DIR, 0o755, uid, uid)


def link(path: str, target: str) -> FileEntry:
    return FileEntry(path, 0, FileKind.SYMLINK, 0o777, 0, 0, target)


# Bases as the planner tells them apart: by the tools their files hold.
STATIC_BUSYBOX = (folder("bin"), file("bin/busybox", 2_000_000), link("bin/sh", "/bin/busybox"),
                  folder("etc"), file("etc/passwd"), file("etc/group"), folder("tmp"))
ALPINE = (*STATIC_BUSYBOX, folder("usr"), folder("usr/sbin"),
          link("usr/sbin/adduser", "/bin/busybox"), link("sbin/nologin", "/bin/busybox"))
DEBIAN = (folder("usr"), folder("usr/bin"), file("usr/bin/dash", 100_000),
          link("usr/bin/sh", "dash"), link("bin", "usr/bin"), folder("usr/sbin"),
          file("usr/sbin/useradd", 100_000), file("usr/sbin/adduser", 30_000), folder("etc"),
          file("etc/passwd"), file("etc/group"))
SCRATCH: tuple[FileEntry, ...] = ()


@dataclass(frozen=True)
class Found:
    rule: str
    line: int | None  # the Dockerfile line of the instruction whose layer holds it
    paths: tuple[str, ...] = ()
    message: str = "a finding"
    evidence: str = ""
    origin: Origin = Origin.OWN


def found(rule: str, line: int | None = None, *paths: str, message: str = "a finding",
          evidence: str = "", origin: Origin = Origin.OWN) -> Found:
    return Found(rule, line, paths, message, evidence, origin)


@dataclass(frozen=True)
class Audit:
    report: ImageReport
    mapping: DockerfileMapping
    text: str

    def plan(self, context: Context | None = None) -> Plan:
        return plan_fix(self.report, self.mapping, self.text, context or Context(frozenset()))

    def fixed(self, context: Context | None = None) -> str:
        return apply_edits(self.text, self.plan(context).edits_to(Target.DOCKERFILE))

    def ignore(self, context: Context) -> str | None:
        edits = self.plan(context).edits_to(Target.DOCKERIGNORE)
        return apply_edits(context.dockerignore or "", edits) if edits else None

    def advice(self, context: Context | None = None) -> dict[str, str]:
        """rule -> `where: message: action` of each piece of advice (the last per rule)."""
        return {a.rule: f"{a.where}: {a.message}: {a.action}"
                for a in self.plan(context).advice}


def context(*paths: str, dockerignore: str | None = None) -> Context:
    """A build context holding paths (and their folders)."""
    every = set()
    for path in paths:
        parts = path.split("/")
        every.update("/".join(parts[: n + 1]) for n in range(len(parts)))
    return Context(frozenset(every), dockerignore, "Dockerfile" if "Dockerfile" in paths else None)


def _expand(text: str, args: Mapping[str, str]) -> str:
    for name, value in sorted(args.items(), key=lambda item: -len(item[0])):
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def _created_by(instruction: Instruction, args: Mapping[str, str], shell: Sequence[str]
                ) -> str:
    """The history line BuildKit writes for the instruction."""
    keyword, arguments = instruction.keyword, instruction.arguments
    if keyword == "RUN":
        if instruction.exec_form:
            return f"RUN {' '.join(arguments)} # buildkit"
        prefix = (f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " "
                  if args else "")
        command = instruction.heredocs[0].content if instruction.heredocs else arguments[0]
        return f"RUN {prefix}{' '.join(shell)} {command} # buildkit"
    if keyword == "SHELL":
        return f"SHELL [{' '.join(arguments)}]"
    if keyword in ("COPY", "ADD"):
        flags = "".join(f"{flag} " for flag in instruction.flags)
        return f"{keyword} {flags}{_expand(' '.join(arguments), args)} # buildkit"
    if keyword in ("CMD", "ENTRYPOINT"):
        argv = arguments if instruction.exec_form else (*shell, arguments[0])
        return f"{keyword} [" + " ".join(json.dumps(word) for word in argv) + "]"
    if keyword == "EXPOSE":
        ports = " ".join(f"{p if '/' in p else p + '/tcp'}:{{}}" for p in arguments)
        return f"EXPOSE map[{ports}]"
    if keyword in ("ENV", "LABEL"):
        pairs = zip(arguments[::2], arguments[1::2], strict=True)
        return f"{keyword} " + " ".join(f"{k}={_expand(v, args)}" for k, v in pairs)
    return f"{keyword} {_expand(' '.join(arguments), args)}"


def _config(instructions: Sequence[Instruction], args: Mapping[str, str]) -> ImageConfig:
    user = workdir = ""
    cmd: tuple[str, ...] | None = ("sh",)
    entrypoint: tuple[str, ...] | None = None
    env: list[tuple[str, str]] = []
    ports: list[str] = []
    for instruction in instructions:
        arguments = instruction.arguments
        argv = (tuple(arguments) if instruction.exec_form
                else ("/bin/sh", "-c", arguments[0]) if arguments else ())
        match instruction.keyword:
            case "USER":
                user = _expand(arguments[0], args)
            case "WORKDIR":
                workdir = _expand(arguments[0], args)
            case "CMD":
                cmd = argv
            case "ENTRYPOINT":
                entrypoint, cmd = argv, None
            case "ENV":
                env.extend(zip(arguments[::2], arguments[1::2], strict=True))
            case "EXPOSE":
                ports.extend(p if "/" in p else f"{p}/tcp" for p in arguments)
    return ImageConfig(user=user, env=tuple(env), cmd=cmd, entrypoint=entrypoint,
                       workdir=workdir, exposed_ports=tuple(ports))


def audited(dockerfile: str, *, base: Iterable[FileEntry] = STATIC_BUSYBOX,
            layers: Mapping[int, Sequence[FileEntry]] = MappingProxyType({}),
            findings: Sequence[Found] = (), passwd: bytes = PASSWD, group: bytes = GROUP
            ) -> Audit:
    """The audit of an image built from dockerfile's final stage on `base`; `layers` gives the
    files of the layer each RUN, COPY or ADD made, by the instruction's line."""
    parsed = parse_dockerfile(dockerfile)
    stage = parsed.final_stage
    base_entries = tuple(base)
    captured = {path: data for path, data in (("etc/passwd", passwd), ("etc/group", group))
                if any(entry.path == path for entry in base_entries)}
    history = [HistoryStep(0, "COPY rootfs/ / # buildkit", False, layer=1, origin=Origin.BASE),
               HistoryStep(1, 'CMD ["sh"]', True, origin=Origin.BASE)]
    image_layers = [Layer(1, "sha256:" + "0" * 64, 2_000_000, Origin.BASE, 0,
                          LayerContent(Entries.of(base_entries),
                                       captured=MappingProxyType(captured)))]
    layer_of_line: dict[int, int] = {}
    args: dict[str, str] = {}
    shell: tuple[str, ...] = ("/bin/sh", "-c")
    for instruction in stage.instructions:
        if instruction.keyword == "SHELL":
            shell = instruction.arguments
        if instruction.keyword == "ARG":
            for argument in instruction.arguments:
                name, _, value = argument.partition("=")
                args[name] = value
        index = len(history)
        makes_layer = instruction.keyword in ("RUN", "COPY", "ADD")
        number = len(image_layers) + 1 if makes_layer else None
        history.append(HistoryStep(index, _created_by(instruction, args, shell), not makes_layer,
                                   layer=number, origin=Origin.OWN))
        if number is not None:
            entries = tuple(layers.get(instruction.start_line, ()))
            image_layers.append(Layer(number, f"sha256:{number:064x}", 100, Origin.OWN, index,
                                      LayerContent(Entries.of(entries))))
            layer_of_line[instruction.start_line] = number
    files: dict[str, PlacedFile] = {}
    for layer in image_layers:
        assert layer.content is not None
        for entry in layer.content.entries:
            files[entry.path] = PlacedFile(entry, layer.number)
    image = Image(
        reference="app:1", id="sha256:" + "a" * 64,
        config=_config(stage.instructions, args), history=tuple(history),
        layers=tuple(image_layers),
        boundary=BaseBoundary(2, 2, "local-image", "a test base", "base:1"),
        size=sum(layer.size for layer in image_layers), files=MappingProxyType(files),
    )
    mapping = match_history(parsed, image.history)
    assert isinstance(mapping, DockerfileMapping), mapping
    scored = tuple(
        ScoredFinding(
            Finding(item.rule, Severity.MEDIUM, item.message, item.evidence,
                    layer=layer_of_line[item.line] if item.line is not None else None,
                    origin=item.origin, path=item.paths[0] if item.paths else "",
                    paths=item.paths),
            RuleInfo(item.rule, int(item.rule[2:-2]), "a rule", Severity.MEDIUM, "why",
                     f"the fix of {item.rule}"),
            1.0)
        for item in findings)
    report = ImageReport(image, (), (), scored, score=50, grade="D")
    return Audit(report, mapping, dockerfile)

