"""`imgaudit fix IMAGE --dockerfile PATH`: the image audited, its Dockerfile matched with its
history, and the edits that fix what can be fixed mechanically shown as a unified diff (written,
with --write); advice for the rest on stderr. Exit 0, or 2 when it cannot be done safely."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from auditor import audit
from auditor.cli.common import (
    EXIT_ERROR,
    BaseOption,
    ConfigOption,
    NoCacheOption,
    NoConfigOption,
    app,
    fail,
    report_problems,
    say,
)
from auditor.config import load_policy
from auditor.dockerfile import Mismatch, match_image, parse_dockerfile
from auditor.errors import UsageError
from auditor.fix import Context, Plan, Target, apply_edits, plan_fix, unified_diff
from auditor.redact import redact

# Folders listed but not walked: big, and nothing below them is told apart.
_NOT_WALKED = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv"})
_MOST_PATHS = 200_000


@app.command("fix")
def fix_command(
    image: Annotated[str, typer.Argument(
        metavar="IMAGE", show_default=False,
        help="The image built from the Dockerfile: NAME[:TAG], IMAGE_ID, NAME@sha256:..., "
        "docker-archive:PATH[:REF] or oci:DIR[:REF]")],
    dockerfile: Annotated[Path, typer.Option(
        "--dockerfile", metavar="PATH", dir_okay=False, show_default=False,
        help="The Dockerfile the image was built from.")],
    context: Annotated[Path | None, typer.Option(
        "--context", metavar="DIR", file_okay=False,
        help="The build context, whose .dockerignore is edited (default: the Dockerfile's "
        "folder).")] = None,
    write: Annotated[bool, typer.Option(
        "--write", help="Write the edits to the files instead of printing them as a diff.",
    )] = False,
    target: Annotated[str | None, typer.Option(
        metavar="STAGE", help="The stage the image was built to (`docker build --target`); "
        "default: the last.")] = None,
    base: BaseOption = None,
    no_cache: NoCacheOption = False,
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
) -> None:
    """Fix the Dockerfile an image was built from: .dockerignore entries, no caches, exec-form
    CMD, WORKDIR, merged RUNs, a non-root USER. Prints a diff; --write applies it."""
    shown = _shown(dockerfile)
    text, bom = _read(dockerfile, shown)
    parsed = parse_dockerfile(text, shown)
    folder = context if context is not None else dockerfile.parent
    if not folder.is_dir():
        raise UsageError(f"the build context {folder} is not a folder",
                         hint="pass the folder `docker build` was given, with --context DIR")
    policy = load_policy(config, no_config=no_config).policy
    policy = dataclasses.replace(policy, fail_under=None, fail_on=None, fail_on_new=False)
    report = audit([image], policy=policy, base=base, use_cache=not no_cache)
    if report_problems(report):
        raise typer.Exit(EXIT_ERROR)
    item = report.images[0]
    mapping = match_image(parsed, item.image, target=target)
    if isinstance(mapping, Mismatch):
        fail(f"{mapping}; nothing was changed",
             "pass the Dockerfile (and --target) the image was built from, or build the image "
             "from this Dockerfile again: a wrong edit is worse than none")
        raise typer.Exit(EXIT_ERROR)
    listing = _context(folder, dockerfile)
    plan = plan_fix(item, mapping, text, listing)
    new_text = apply_edits(text, plan.edits_to(Target.DOCKERFILE))
    ignore_path = folder / ".dockerignore"
    ignore_edits = plan.edits_to(Target.DOCKERIGNORE)
    new_ignore = apply_edits(listing.dockerignore or "", ignore_edits) if ignore_edits else None
    if write:
        _write_all(plan, dockerfile, shown, new_text, text, bom, ignore_path, new_ignore)
    else:
        _show(plan, shown, text, new_text, ignore_path, listing.dockerignore, new_ignore)
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if ignore_edits and own.is_file():
        say(f"imgaudit: fix: BuildKit reads {_shown(own)} instead of .dockerignore for "
            "this Dockerfile: add the same entries there")
    _advise(plan)


def _show(plan: Plan, shown: str, text: str, new_text: str, ignore_path: Path,
          old_ignore: str | None, new_ignore: str | None) -> None:
    diffs = [unified_diff(text, new_text, shown)]
    if new_ignore is not None:
        diffs.append(unified_diff(old_ignore, new_ignore, _shown(ignore_path)))
    output = "".join(diffs)
    # The diff is for reading: a secret the Dockerfile holds is not printed (--write keeps it).
    masked = "".join(redact(line) + "\n" for line in output.splitlines())
    if masked:
        typer.echo(masked, nl=False)
    if not plan.edits:
        say(f"imgaudit: fix: nothing in {shown} can be fixed mechanically")
        return
    note = "; secret values are masked in the diff" if masked != output else ""
    them = "it" if len(plan.edits) == 1 else "them"
    say(f"imgaudit: fix: {_count(plan)} for {', '.join(plan.rules)}; `--write` applies "
        f"{them}{note}")
    _explain(plan)


def _write_all(plan: Plan, dockerfile: Path, shown: str, new_text: str, text: str, bom: bool,
               ignore_path: Path, new_ignore: str | None) -> None:
    if not plan.edits:
        say(f"imgaudit: fix: nothing in {shown} can be fixed mechanically")
        return
    files: dict[Path, str] = {}
    if new_text != text:
        files[dockerfile] = ("\ufeff" if bom else "") + new_text
    if new_ignore is not None:
        files[ignore_path] = new_ignore
    _write(files)
    written = [shown if path == dockerfile else _shown(path) for path in files]
    say(f"imgaudit: fix: wrote {' and '.join(written)}: {_count(plan)} for "
        f"{', '.join(plan.rules)}; rebuild the image and audit it again")
    _explain(plan)


def _explain(plan: Plan) -> None:
    """What each edit does, one line each, under the summary."""
    for edit in plan.edits:
        for reason in edit.reasons:
            say(f"  {reason}")


def _count(plan: Plan) -> str:
    return f"{len(plan.edits)} edit{'s' if len(plan.edits) != 1 else ''}"


def _advise(plan: Plan) -> None:
    if not plan.advice:
        return
    say("imgaudit: fix: left as advice (not safe to change mechanically):")
    for advice in plan.advice:
        say(f"  {advice.rule} {advice.where}: {advice.message}: {advice.action}")


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it, else absolute."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(absolute)


def _read(path: Path, shown: str) -> tuple[str, bool]:
    """The Dockerfile's text, and whether it began with a byte-order mark (kept on writing)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {shown}: {exc.strerror or exc}",
                         hint="pass the Dockerfile the image was built from with --dockerfile"
                         ) from exc
    try:
        return data.decode("utf-8-sig"), data.startswith(b"\xef\xbb\xbf")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shown} is not UTF-8 text (byte {exc.start})",
                         hint="a Dockerfile is UTF-8 text") from exc


def _context(folder: Path, dockerfile: Path) -> Context:
    """What the build context holds (folders like .git listed, not walked)."""
    paths: set[str] = set()
    for root, folders, files in os.walk(folder):
        relative = Path(root).relative_to(folder)
        for name in (*folders, *files):
            paths.add((relative / name).as_posix())
        folders[:] = [name for name in folders if name not in _NOT_WALKED]
        if len(paths) > _MOST_PATHS:
            break
    ignore = folder / ".dockerignore"
    try:
        text = ignore.read_text(encoding="utf-8") if ignore.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {_shown(ignore)}: {exc}",
                         hint="fix or remove the .dockerignore, then run imgaudit fix again"
                         ) from exc
    try:
        inside: str | None = dockerfile.absolute().relative_to(folder.absolute()).as_posix()
    except ValueError:
        inside = None
    return Context(frozenset(paths), text, inside)


def _write(files: dict[Path, str]) -> None:
    """Writes each file atomically: all are written beside their targets first, then each
    renamed over its target (keeping its mode), so that a failure changes nothing."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            try:
                mode = path.stat().st_mode & 0o7777
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.",
                                             delete=False) as handle:
                staged.append((handle.name, path))
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, mode)
    except OSError as exc:
        for name, _ in staged:
            Path(name).unlink(missing_ok=True)
        raise UsageError(f"cannot write beside {_shown(path)}: {exc.strerror or exc}",
                         hint="check the folder's permissions; nothing was changed") from exc
    for name, path in staged:
        os.replace(name, path)
