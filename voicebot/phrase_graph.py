"""Strict, weighted phrase grammars for Vosk lookahead models, compiled to an OpenFst ``G``.

Vosk's runtime grammar (a JSON list of phrases) is estimated as a word *bigram* whose every
state backs off to the unigram with probability 0.5, so any sequence of grammar words can be
decoded ("예 연락 연락 해요"); repeating a phrase changes nothing (counts are normalised). With
the weak acoustic evidence of a small model on narrow-band speech that backoff dominates.

A ``PhraseGraph`` instead says exactly which word sequences may be heard: top-level
alternatives (each tagged with an intent and weighted), whose tokens are model words or
``{rule}`` references to sub-grammars (dates, amounts, numerals) that are inlined, or ``{rule}+``
for one or more of them (a loop, e.g. a syllable garbage model). It compiles
to a small acceptor in OpenFst's binary ``vector`` format, which a Vosk model directory can use
as its ``graph/Gr.fst`` next to the packaged ``HCLr.fst`` (see ``voicebot.asr``): the decoder
can then only output whole phrases, with costs -log P(intent) - log P(phrase | intent).
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice

_REFERENCE = re.compile(r"^\{(\w+)\}(\+?)$")
_FST_MAGIC = 2125659606
_VECTOR_VERSION = 2
# OpenFst property bits we can vouch for; the rest stay "unknown" and are computed on demand.
_K_EXPANDED, _K_MUTABLE, _K_ACCEPTOR = 0x1, 0x2, 0x10000
_K_ILABEL_SORTED, _K_OLABEL_SORTED = 0x10000000, 0x40000000
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Alternative:
    """One way to say something: tokens (model words or ``{rule}``), a relative weight, a tag."""

    tokens: tuple[str, ...]
    weight: float = 1.0
    tag: str = ""

    @classmethod
    def of(cls, text: str, *, weight: float = 1.0, tag: str = "") -> Alternative:
        """Build from a space-separated phrase."""
        return cls(tokens=tuple(text.split()), weight=weight, tag=tag)


@dataclass(frozen=True, slots=True)
class PhraseGraph:
    """Top-level alternatives plus named sub-grammars they (and each other) may reference."""

    top: tuple[Alternative, ...]
    rules: Mapping[str, tuple[Alternative, ...]] = field(default_factory=dict)
    #: probability that a ``{rule}+`` loop goes round once more
    loop_probability: float = 0.5

    def words(self) -> frozenset[str]:
        """Every model word the graph can output."""
        found: set[str] = set()
        for alternative in (*self.top, *(a for alts in self.rules.values() for a in alts)):
            found.update(t for t in alternative.tokens if not _REFERENCE.match(t))
        return frozenset(found)

    def expand(self, alternative: Alternative, *, limit: int = 10_000) -> Iterator[tuple[str, ...]]:
        """Word sequences one alternative stands for (sub-grammars enumerated, loops once; for tests)."""
        yield from islice(self._expand(alternative.tokens, depth=0), limit)

    def _expand(self, tokens: Sequence[str], *, depth: int) -> Iterator[tuple[str, ...]]:
        if not tokens:
            yield ()
            return
        head, rest = tokens[0], tokens[1:]
        reference = _REFERENCE.match(head)
        if reference is None:
            for tail in self._expand(rest, depth=depth):
                yield (head, *tail)
            return
        for alternative in self._rule(reference.group(1), depth):
            for first in self._expand(alternative.tokens, depth=depth + 1):
                for tail in self._expand(rest, depth=depth):
                    yield first + tail

    def _rule(self, name: str, depth: int) -> tuple[Alternative, ...]:
        if depth >= _MAX_DEPTH:
            raise ValueError(f"sub-grammar {{{name}}} nests deeper than {_MAX_DEPTH} (recursive rule?)")
        try:
            return self.rules[name]
        except KeyError:
            raise KeyError(f"phrase graph has no sub-grammar {{{name}}}; have {sorted(self.rules)}") from None


# --- compiling to an FST -------------------------------------------------------------------------


@dataclass(slots=True)
class _Builder:
    """A mutable acceptor: per state a final cost (or None) and (label, cost, target) arcs."""

    finals: list[float | None] = field(default_factory=list)
    arcs: list[list[tuple[int, float, int]]] = field(default_factory=list)

    def state(self) -> int:
        self.finals.append(None)
        self.arcs.append([])
        return len(self.finals) - 1


def compile_graph(graph: PhraseGraph, *, word_id: Callable[[str], int], scale: float = 1.0) -> bytes:
    """The graph as an OpenFst binary acceptor over the model's word ids.

    Each list of alternatives costs -log(weight / total weight) × ``scale`` (a grammar weight:
    below 1 lets the acoustics override the priors more easily).
    """
    builder = _Builder()
    start, end = builder.state(), builder.state()
    builder.finals[end] = 0.0
    _add_alternatives(builder, graph, graph.top, start, end, word_id=word_id, scale=scale, depth=0)
    return _vector_fst_bytes(builder, start=start)


def _add_alternatives(
    builder: _Builder,
    graph: PhraseGraph,
    alternatives: Sequence[Alternative],
    src: int,
    dst: int,
    *,
    word_id: Callable[[str], int],
    scale: float,
    depth: int,
) -> None:
    """Paths src → dst, one per alternative; an alternative's cost rides on its first arc."""
    total = sum(a.weight for a in alternatives)
    if not alternatives or total <= 0:
        raise ValueError("a list of alternatives needs at least one positive weight")
    for alternative in alternatives:
        if not alternative.tokens:
            raise ValueError("empty alternative (the graph has no epsilon paths)")
        cost = -math.log(alternative.weight / total) * scale if alternative.weight > 0 else math.inf
        if math.isinf(cost):
            continue
        _add_tokens(builder, graph, alternative.tokens, src, dst, cost, word_id=word_id, scale=scale, depth=depth)


def _add_tokens(
    builder: _Builder,
    graph: PhraseGraph,
    tokens: Sequence[str],
    src: int,
    dst: int,
    cost: float,
    *,
    word_id: Callable[[str], int],
    scale: float,
    depth: int,
) -> None:
    """One alternative's tokens as a chain src → … → dst; ``cost`` is put on the first arc(s)."""
    current = src
    for index, token in enumerate(tokens):
        target = dst if index == len(tokens) - 1 else builder.state()
        reference = _REFERENCE.match(token)
        if reference:
            rule = graph._rule(reference.group(1), depth)
            entry = current
            if (index == 0 and cost) or reference.group(2):
                entry = builder.state()  # carry the alternative's cost on the way in; loop head
                builder.arcs[current].append((0, cost if index == 0 else 0.0, entry))
            if reference.group(2):
                _add_loop(builder, graph, rule, entry, target, word_id=word_id, scale=scale, depth=depth + 1)
                current = target
                continue
            _add_alternatives(builder, graph, rule, entry, target, word_id=word_id, scale=scale, depth=depth + 1)
        else:
            label = word_id(token)
            if label <= 0:
                raise ValueError(f"word {token!r} is not in the model's vocabulary")
            builder.arcs[current].append((label, cost if index == 0 else 0.0, target))
        current = target


def _add_loop(
    builder: _Builder,
    graph: PhraseGraph,
    rule: Sequence[Alternative],
    head: int,
    dst: int,
    *,
    word_id: Callable[[str], int],
    scale: float,
    depth: int,
) -> None:
    """One or more of ``rule``: head → rule → tail, tail ⇢ head (again) or tail ⇢ dst (done)."""
    tail = builder.state()
    _add_alternatives(builder, graph, rule, head, tail, word_id=word_id, scale=scale, depth=depth)
    again = graph.loop_probability
    builder.arcs[tail].append((0, -math.log(again) * scale, head))
    builder.arcs[tail].append((0, -math.log(1 - again) * scale, dst))


def _vector_fst_bytes(builder: _Builder, *, start: int) -> bytes:
    """Serialise as OpenFst ``vector``/``standard`` (tropical float weights), arcs sorted by label."""
    properties = _K_EXPANDED | _K_MUTABLE | _K_ACCEPTOR | _K_ILABEL_SORTED | _K_OLABEL_SORTED
    num_arcs = sum(len(a) for a in builder.arcs)
    out = [
        struct.pack("<i", _FST_MAGIC),
        _fst_string("vector"),
        _fst_string("standard"),
        struct.pack("<iiQqqq", _VECTOR_VERSION, 0, properties, start, len(builder.finals), num_arcs),
    ]
    for final, arcs in zip(builder.finals, builder.arcs, strict=True):
        out.append(struct.pack("<f", math.inf if final is None else final))
        out.append(struct.pack("<q", len(arcs)))
        out.extend(struct.pack("<iifi", label, label, cost, target) for label, cost, target in sorted(arcs))
    return b"".join(out)


def _fst_string(text: str) -> bytes:
    data = text.encode("ascii")
    return struct.pack("<i", len(data)) + data
