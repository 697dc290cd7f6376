"""Practice 3, minimal layers: how many layers the image's own build adds, and RUN steps that
could have been one."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import HistoryQuality, Image
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import own_steps

# Steps between two RUNs that do not stop them being merged (they could move above both).
_TRANSPARENT = frozenset({"ARG", "ENV", "LABEL", "EXPOSE"})


# The diff_id of an empty layer tar: BuildKit commits one for a WORKDIR whose folder exists.
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def _non_empty(image: Image) -> list[int]:
    """Own layers that change the filesystem. Without contents, a size says nothing (the engine
    counts a layer of folders as 0 bytes, an archive counts its tar): go by the diff_id."""
    return [
        layer.number
        for layer in image.own_layers
        if (bool(layer.content.entries) if layer.content is not None
            else layer.diff_id != EMPTY_LAYER)
    ]


@rule(
    "IA301",
    practice=3,
    title="Too many layers",
    severity=Severity.MEDIUM,
    rationale="Each layer is a separate download and a place where deleted files live on; many "
    "small layers slow pulls and hide waste.",
    fix="Chain related commands in one RUN with `&&` and copy files in fewer COPY steps.",
)
def too_many_layers(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an image whose own build adds more non-empty layers than the limit."""
    own = _non_empty(image)
    text = (f"{len(own)} non-empty layers added by the image's own build, "
            f"{len(image.layers)} in all (limit {limits.max_own_layers} own)")
    if len(own) > limits.max_own_layers:
        yield Flag(f"the image's own build adds {len(own)} layers", text, layer=own[-1])
        return
    yield Passed(text)


@rule(
    "IA302",
    practice=3,
    title="Consecutive RUN steps that could be one",
    severity=Severity.LOW,
    rationale="Back-to-back RUN steps each commit a layer; files one step deletes still ship in "
    "the layer before it.",
    fix="Merge consecutive RUN instructions into one, joined with `&&`, cleaning up in the same "
    "step.",
)
def run_steps_not_combined(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag runs of consecutive RUN steps, each adding a layer, in the image's own history."""
    if image.history_quality is not HistoryQuality.OK:
        raise NotApplicable(image.history_note or "the history cannot be read as steps")
    streaks: list[list[int]] = []
    current: list[int] = []
    for step in own_steps(image):
        if step.instruction == "RUN" and not step.empty_layer:
            current.append(step.index)
        elif step.instruction in _TRANSPARENT or (step.instruction == "RUN" and step.empty_layer):
            continue
        else:
            if len(current) > 1:
                streaks.append(current)
            current = []
    if len(current) > 1:
        streaks.append(current)
    flagged = [s for s in streaks if len(s) > limits.max_consecutive_runs]
    if not flagged:
        yield Passed("no consecutive RUN steps in the image's own build")
        return
    for streak in flagged:
        first = image.history[streak[0]]
        yield Flag(
            f"{len(streak)} consecutive RUN steps could be one",
            f"history[{streak[0]}..{streak[-1]}]: " + " | ".join(
                describe_step(image.history[i]).split(": ", 1)[1][:60] for i in streak
            ),
            step=first.index,
            layer=first.layer,
        )
