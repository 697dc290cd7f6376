"""What the fixes have concluded so far, handed from one fix to the next: the Dockerfile draft,
other files' edits, advice given, and the findings already dealt with (fixed, or explained)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from auditor.fix.draft import Draft
from auditor.fix.model import Advice, Edit
from auditor.model.findings import Finding


@dataclass(frozen=True, slots=True)
class Outcome:
    draft: Draft
    edits: tuple[Edit, ...] = ()  # of files other than the Dockerfile
    advice: tuple[Advice, ...] = ()
    handled: frozenset[Finding] = frozenset()  # fixed by an edit, or advised on specifically

    def with_draft(self, draft: Draft, *fixed: Finding) -> Outcome:
        return dataclasses.replace(self, draft=draft, handled=self.handled | set(fixed))

    def with_edit(self, edit: Edit, *fixed: Finding) -> Outcome:
        return dataclasses.replace(self, edits=(*self.edits, edit),
                                   handled=self.handled | set(fixed))

    def advise(self, advice: Advice, *about: Finding) -> Outcome:
        """Advice in place of an edit; the findings it is about get no generic advice."""
        known = advice in self.advice
        return dataclasses.replace(self, advice=self.advice if known else (*self.advice, advice),
                                   handled=self.handled | set(about))
