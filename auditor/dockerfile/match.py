"""Matches a Dockerfile with an image's history: which instruction made each step, and which set
each config value. Any step that does not match, in kind or in content, maps nothing and says why:
a wrong line is worse than none."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from auditor.dockerfile.attempt import Attempt, Failure
from auditor.dockerfile.errors import DockerfileError
from auditor.dockerfile.model import Builder, Dockerfile, DockerfileMapping, Mismatch
from auditor.dockerfile.parse import read_dockerfile
from auditor.dockerfile.recorded import RecordedStep, read_step
from auditor.model.image import HistoryQuality, HistoryStep, Image, Origin

# Base boundaries found from an actual base image; the others are guesses from the history.
EXACT_BOUNDARIES = frozenset({"option", "local-image", "archive-image"})


def match_image(dockerfile: Dockerfile, image: Image, *, target: str | None = None
                ) -> DockerfileMapping | Mismatch:
    """match_history on an image read by a source, trusting its base boundary only when an
    actual base image gave it (not when guessed from the history)."""
    if image.history_quality in (HistoryQuality.MISSING, HistoryQuality.SYNTHETIC):
        return Mismatch(dockerfile.path, image.history_note or "the image has no build history")
    return match_history(dockerfile, image.history, target=target,
                         trust_origins=image.boundary.method in EXACT_BOUNDARIES)


def detect_dockerfile(candidate: Path | str, image: Image, *, target: str | None = None
                      ) -> DockerfileMapping | Mismatch:
    """The mapping of a Dockerfile that may be the image's (such as ./Dockerfile), only when its
    steps match the image's; otherwise the reason it was not used. Never raises."""
    path = Path(candidate)
    if not path.is_file():
        return Mismatch(str(candidate), "no such file")
    try:
        return match_image(read_dockerfile(path), image, target=target)
    except DockerfileError as exc:
        return Mismatch(str(candidate), exc.message)


def match_history(dockerfile: Dockerfile, history: Sequence[HistoryStep], *,
                  target: str | None = None, trust_origins: bool = True
                  ) -> DockerfileMapping | Mismatch:
    """The instruction behind each step the Dockerfile made, or why the history is not its.

    With trust_origins, the history's OWN/BASE origins are taken as exact: an own step the
    Dockerfile does not make, or a base step it would make, is a mismatch. Without, the steps
    before the Dockerfile's first are taken as the base image's.

    Raises DockerfileError when an instruction cannot be expanded (a build would fail too)."""
    stage = dockerfile.stage(target) if target else dockerfile.final_stage
    recorded = tuple(read_step(step.created_by) for step in history)
    failures: list[Failure] = []
    for builder in _likely_builders(recorded):
        for with_option in (False, True) if builder is Builder.CLASSIC else (False,):
            attempt = Attempt(dockerfile, stage, history, recorded, builder, with_option,
                              trust_origins)
            outcome = attempt.run()
            if isinstance(outcome, DockerfileMapping):
                return outcome
            failures.append(outcome)
    own = next((step.index for step in history if step.origin is Origin.OWN), None)
    if trust_origins and own is not None:
        # Where the steps first differ, read from the start of the image's own build, says
        # more than where they differ read from the end: an inserted step shifts every step.
        for builder in _likely_builders(recorded):
            for with_option in (False, True) if builder is Builder.CLASSIC else (False,):
                diagnosis = Attempt(dockerfile, stage, history, recorded, builder, with_option,
                                    trust_origins, anchor=own).run()
                assert not isinstance(diagnosis, DockerfileMapping)
                failures.append(diagnosis)
    best = max(failures, key=lambda failure: failure.progress)
    return Mismatch(dockerfile.path, best.reason)


def _likely_builders(recorded: Sequence[RecordedStep]) -> tuple[Builder, ...]:
    """Both builders, the one that wrote most of the latest steps first."""
    tail = recorded[-8:]
    buildkit = sum(1 for step in tail if step.builder is Builder.BUILDKIT)
    if buildkit * 2 > len(tail):
        return (Builder.BUILDKIT, Builder.CLASSIC)
    return (Builder.CLASSIC, Builder.BUILDKIT)
