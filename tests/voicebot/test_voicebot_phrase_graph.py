"""Strict phrase graphs: expansion, compilation to an OpenFst acceptor, and the Korean pack's graphs."""

from __future__ import annotations

import math
import struct

import pytest

from voicebot.locales import get_pack
from voicebot.phrase_graph import Alternative, PhraseGraph, compile_graph

IDS = {"내일": 5, "모레": 6, "입금": 7, "할게요": 8, "네": 9, "<UNK>": 10}


def _read_fst(data: bytes) -> tuple[int, list[tuple[float, list[tuple[int, float, int]]]]]:
    """Parse the ``vector`` FST we write: (start, [(final cost, [(label, cost, target)])])."""
    pos = 4

    def string() -> str:
        nonlocal pos
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4 + size
        return data[pos - size : pos].decode()

    assert struct.unpack_from("<i", data, 0)[0] == 2125659606
    assert (string(), string()) == ("vector", "standard")
    _version, _flags, _props, start, num_states, _num_arcs = struct.unpack_from("<iiQqqq", data, pos)
    pos += struct.calcsize("<iiQqqq")
    states = []
    for _ in range(num_states):
        final, count = struct.unpack_from("<fq", data, pos)
        pos += 12
        arcs = [struct.unpack_from("<iifi", data, pos + 16 * k) for k in range(count)]
        pos += 16 * count
        states.append((final, [(a[0], a[2], a[3]) for a in arcs]))
    assert pos == len(data)
    return start, states


def _paths(start: int, states: list[tuple[float, list[tuple[int, float, int]]]]) -> dict[tuple[int, ...], float]:
    """Every accepted label sequence of up to 3 labels (epsilons dropped) with its lowest cost."""
    out: dict[tuple[int, ...], float] = {}
    stack: list[tuple[int, tuple[int, ...], float]] = [(start, (), 0.0)]
    while stack:
        state, labels, cost = stack.pop()
        final, arcs = states[state]
        if not math.isinf(final):
            out[labels] = min(out.get(labels, math.inf), round(cost + final, 4))
        for label, arc_cost, target in arcs:
            if len(labels) < 3 or not label:
                stack.append((target, labels + ((label,) if label else ()), cost + arc_cost))
    return out


def test_graph_compiles_to_weighted_phrase_paths() -> None:
    """Only whole phrases are accepted, with -log P(alternative) × P(sub-grammar choice)."""
    graph = PhraseGraph(
        top=(Alternative.of("{date} 입금 할게요", weight=3.0, tag="will_pay"), Alternative.of("네", tag="yes")),
        rules={"date": (Alternative.of("내일"), Alternative.of("모레"))},
    )
    start, states = _read_fst(compile_graph(graph, word_id=IDS.__getitem__))
    p_pay, p_day = -math.log(0.75), -math.log(0.5)
    assert _paths(start, states) == {
        (5, 7, 8): round(p_pay + p_day, 4),
        (6, 7, 8): round(p_pay + p_day, 4),
        (9,): round(-math.log(0.25), 4),
    }
    assert all([a[0] for a in arcs] == sorted(a[0] for a in arcs) for _, arcs in states)  # ilabel-sorted
    assert graph.words() == {"내일", "모레", "입금", "할게요", "네"}
    assert list(graph.expand(graph.top[0])) == [("내일", "입금", "할게요"), ("모레", "입금", "할게요")]


def test_loops_scale_and_errors() -> None:
    """``{rule}+`` repeats with the loop probability; scale multiplies costs; bad graphs are refused."""
    looped = PhraseGraph(top=(Alternative.of("{w}+"),), rules={"w": (Alternative.of("네"),)}, loop_probability=0.25)
    paths = _paths(*_read_fst(compile_graph(looped, word_id=IDS.__getitem__)))
    assert paths[(9,)] == round(-math.log(0.75), 4)
    assert paths[(9, 9)] == round(-math.log(0.25) - math.log(0.75), 4)
    two = PhraseGraph(top=(Alternative.of("네", weight=1.0), Alternative.of("<UNK>", weight=3.0)))
    assert _paths(*_read_fst(compile_graph(two, word_id=IDS.__getitem__, scale=0.5)))[(9,)] == round(
        0.5 * math.log(4), 4
    )
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        compile_graph(PhraseGraph(top=(Alternative.of("바나나"),)), word_id=lambda w: -1)
    with pytest.raises(KeyError, match="no sub-grammar"):
        compile_graph(PhraseGraph(top=(Alternative.of("{nope}"),)), word_id=IDS.__getitem__)
    recursive = PhraseGraph(top=(Alternative.of("{a}"),), rules={"a": (Alternative.of("{a}"),)})
    with pytest.raises(ValueError, match="nests deeper"):
        compile_graph(recursive, word_id=IDS.__getitem__)


def test_korean_graphs_balance_intents_and_cover_slots() -> None:
    """Each intent gets the same prior mass; dates and amounts in the NLU's token forms are paths."""
    pack = get_pack("ko-KR")
    graph = pack.phrase_graph("negotiate", unknown_token="<UNK>")
    mass: dict[str, float] = {}
    for alternative in graph.top:
        mass[alternative.tag] = mass.get(alternative.tag, 0.0) + alternative.weight
    assert {round(m, 6) for tag, m in mass.items() if tag != "unknown"} == {1.0}
    dates = {" ".join(s) for s in graph.expand(Alternative.of("{date}"), limit=100_000)}
    assert {"내일", "다음 주 월요일", "십오 일", "유월 십 일", "월말", "글피"} <= dates
    amounts = {" ".join(s) for s in graph.expand(Alternative.of("{amount}"), limit=100_000)}
    assert {"십 만 원", "만 원", "이십 만 위안", "오천 원", "오십 만 원", "삼천 원", "만 오천 원"} <= amounts
    assert "오백 이십일 원" not in amounts  # arbitrary unit digits are left out on purpose
