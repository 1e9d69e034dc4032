"""Live-call tuning knobs: ASR lanes per turn, the early-end rule, the endpointer's silence count."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.asr import DEFAULT_WARPS, VoskRecognizer
from voicebot.audio import Endpointer, EndpointEvent
from voicebot.locales import get_pack
from voicebot.telephony.runtime import LANES_ENV, asr_lanes, with_lanes
from voicebot.telephony.session import _early_ok


def test_lanes_setting_is_parsed_and_bad_values_refused() -> None:
    """Unset → the recogniser's default; 1..1+len(DEFAULT_WARPS) are taken; anything else is refused."""
    assert asr_lanes({}) is None and asr_lanes({LANES_ENV: " "}) is None
    assert [asr_lanes({LANES_ENV: str(n)}) for n in range(1, 2 + len(DEFAULT_WARPS))] == list(
        range(1, 2 + len(DEFAULT_WARPS)))
    for bad in ("0", "-1", "x", str(2 + len(DEFAULT_WARPS))):
        with pytest.raises(ValueError, match=LANES_ENV):
            asr_lanes({LANES_ENV: bad})


def test_with_lanes_decodes_in_that_many_lanes_on_the_same_model(ko_recognizer: VoskRecognizer) -> None:
    """A lane count gives a recogniser whose streams run that many decoders (unwarped first), sharing the
    loaded model; the original keeps its lanes; None leaves the recogniser as it is."""
    graph = get_pack("ko-KR").phrase_graph("verify", unknown_token=ko_recognizer.unknown_token)
    assert with_lanes(ko_recognizer, None) is ko_recognizer
    for lanes in (1, 2):
        fewer = with_lanes(ko_recognizer, lanes)
        assert isinstance(fewer, VoskRecognizer) and fewer._model is ko_recognizer._model
        stream = fewer.stream(grammar=fewer.graph_grammar(name="verify", graph=graph))
        assert len(stream._lanes) == lanes
        stream.accept_ulaw(b"\xff" * 160 * 25)
        assert stream.finish().audio_seconds == pytest.approx(0.5, abs=0.01)
    assert ko_recognizer.warps == DEFAULT_WARPS


def test_early_end_needs_a_known_intent_with_confidence_and_no_garbage_word() -> None:
    """Only a confidently understood whole phrase ends a turn early; garbage, unknown or unsure does not."""
    good = {"text": "네", "intent": "yes", "confidence": 0.9}
    assert _early_ok(good, min_confidence=0.6, unknown_token="[unk]")
    assert not _early_ok({**good, "confidence": 0.5}, min_confidence=0.6, unknown_token="[unk]")
    assert not _early_ok({**good, "intent": "unknown"}, min_confidence=0.6, unknown_token="[unk]")
    assert not _early_ok({**good, "text": "[unk] 네"}, min_confidence=0.6, unknown_token="[unk]")
    assert not _early_ok({**good, "text": ""}, min_confidence=0.6, unknown_token="[unk]")


def test_endpointer_counts_silence_inside_speech_only() -> None:
    """``silent_ms`` grows by a frame per quiet frame after speech, drops to 0 on a voiced frame, and is 0
    before speech starts and after the end window closes it."""
    tone = (8000 * np.sin(np.arange(160) * 2 * np.pi * 440 / 8000)).astype(np.int16)
    quiet = np.zeros(160, dtype=np.int16)
    ep = Endpointer(end_silence_ms=200, start_ms=40)
    assert ep.push(quiet) is EndpointEvent.NONE and ep.silent_ms == 0
    events = [ep.push(tone) for _ in range(5)]
    assert EndpointEvent.SPEECH_START in events and ep.silent_ms == 0
    ep.push(quiet)
    ep.push(quiet)
    assert ep.silent_ms == 40
    ep.push(tone)
    assert ep.silent_ms == 0
    assert [ep.push(quiet) for _ in range(10)][9] is EndpointEvent.SPEECH_END and ep.silent_ms == 0
