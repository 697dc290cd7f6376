"""A Dockerfile's lines while fixes edit them: blocks of new lines, each replacing a range of the
original lines (one instruction, several merged into one) or inserted between two of them. Every
fix reads an instruction's current text from the draft, so that fixes compose: a RUN that gained
`--no-cache-dir` can then be merged with the next one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from auditor.dockerfile import Instruction
from auditor.fix.model import Edit, Target


@dataclass(frozen=True, slots=True)
class Block:
    """New lines for original lines start..end, or inserted before line start (end = start-1)."""

    start: int
    end: int
    lines: tuple[str, ...]
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def inserts(self) -> bool:
        return self.end == self.start - 1


@dataclass(frozen=True, slots=True)
class Draft:
    source: tuple[str, ...]  # the original lines, without line endings
    escape: str = "\\"  # the Dockerfile's escape character, for continuation lines
    blocks: tuple[Block, ...] = ()  # in the order they were made

    def span(self, instruction: Instruction) -> tuple[int, int]:
        """The original lines the instruction's current text replaces: its own, or those of
        the merged instruction it became part of."""
        block = self._covering(instruction.start_line, instruction.end_line)
        if block is None:
            return instruction.start_line, instruction.end_line
        return block.start, block.end

    def lines(self, instruction: Instruction) -> tuple[str, ...]:
        """The instruction's text as edited so far (with whatever it was merged with)."""
        block = self._covering(instruction.start_line, instruction.end_line)
        if block is not None:
            return block.lines
        return self.source[instruction.start_line - 1 : instruction.end_line]

    def original(self, start: int, end: int) -> tuple[str, ...]:
        return self.source[start - 1 : end]

    def replace(self, start: int, end: int, lines: tuple[str, ...], rule: str, reason: str
                ) -> Draft:
        """Lines start..end replaced; a block inside the range is absorbed, with its reasons."""
        kept: list[Block] = []
        rules: list[str] = []
        reasons: list[str] = []
        for block in self.blocks:
            if block.inserts:
                if start < block.start <= end:
                    raise ValueError(f"lines {start}-{end} hold an insertion at {block.start}")
                kept.append(block)
                continue
            if block.end < start or block.start > end:
                kept.append(block)
                continue
            if block.start < start or block.end > end:
                raise ValueError(f"lines {start}-{end} cut the edit of {block.start}-{block.end}")
            rules.extend(block.rules)
            reasons.extend(block.reasons)
        rules.append(rule)
        reasons.append(reason)
        merged = Block(start, end, lines, tuple(dict.fromkeys(rules)),
                       tuple(dict.fromkeys(reasons)))
        return dataclasses.replace(self, blocks=(*kept, merged))

    def edit(self, instruction: Instruction, lines: tuple[str, ...], rule: str, reason: str
             ) -> Draft:
        """The instruction's current text (its span, see `span`) replaced by lines."""
        start, end = self.span(instruction)
        return self.replace(start, end, lines, rule, reason)

    def insert(self, before: int, lines: tuple[str, ...], rule: str, reason: str) -> Draft:
        """Lines inserted before original line `before`, after any inserted there already."""
        block = Block(before, before - 1, lines, (rule,), (reason,))
        return dataclasses.replace(self, blocks=(*self.blocks, block))

    def edits(self) -> tuple[Edit, ...]:
        """The blocks as edits of the Dockerfile, in line order; insertions at one place are
        one edit, and a block that changed nothing is none."""
        out: list[Edit] = []
        inserted: dict[int, list[Block]] = {}
        for block in self.blocks:
            if block.inserts:
                inserted.setdefault(block.start, []).append(block)
            elif block.lines != self.original(block.start, block.end):
                out.append(Edit(Target.DOCKERFILE, block.start, block.end, block.lines,
                                block.rules, block.reasons))
        for before, blocks in inserted.items():
            out.append(Edit(
                Target.DOCKERFILE, before, before - 1,
                tuple(line for block in blocks for line in block.lines),
                tuple(dict.fromkeys(rule for block in blocks for rule in block.rules)),
                tuple(dict.fromkeys(reason for block in blocks for reason in block.reasons)),
            ))
        return tuple(sorted(out, key=lambda edit: (edit.start, not edit.inserts)))

    def _covering(self, start: int, end: int) -> Block | None:
        return next((block for block in self.blocks if not block.inserts
                     and block.start <= start and end <= block.end), None)
