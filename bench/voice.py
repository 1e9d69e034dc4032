"""Voice robot benchmark: intent accuracy of synthetic borrowers over a telephone channel.

Each utterance is spoken by espeak-ng (via the same worker the robot's TTS uses) in one of
several voice variants / speeds / pitches, band-limited to 300–3400 Hz, mixed with white noise
at ``--snr`` dB, written to a WAV and recognised by ``voicebot.recognize.recognize_wav`` — the
path a live call uses (8 kHz μ-law frames → streaming Vosk with the state's grammar → NLU).

Two disjoint sets: TUNING (phrasings, slot values, voices, off-script sentences and noise
seeds looked at while choosing grammar phrases and front-end settings) and HELD-OUT (other
phrasings of the same intents, other slot values, other voices, other off-script sentences and
seeds — never used to tune). The held-out accuracy is the figure to quote. Both sets mix line
levels (``LINE_LEVELS_DB``) so level normalisation is exercised, and include off-script turns
whose right answer is ``unknown`` (a re-prompt), one set of sentences per set.

Caveat: the intent phrasings are those of the locale pack's inventory (alternate phrases go to
each set), and the inventory itself was chosen by measuring every candidate phrase on tuning
and extra development voices. So the held-out set measures generalisation over voices, speeds,
pitches, noise, levels and slot values, not over what borrowers might say beyond the inventory;
the off-script sentences are the only out-of-grammar speech.

    python bench/voice.py --json            # held-out + tuning, JSON summary on stdout
    python bench/voice.py --set heldout     # human-readable report for one set
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicebot.audio import add_noise, silence, telephone_band, write_wav
from voicebot.locales import get_pack
from voicebot.nlu import understand
from voicebot.recognize import recognize_wav, recognizer_for
from voicebot.tts import EspeakSynthesizer, Variant

LOCALE = "ko-KR"
AS_OF = date(2026, 11, 27)
CURRENCY = "CNY"

TUNING_VARIANTS = (
    Variant("ko", 170, 50),
    Variant("ko+f3", 150, 70),
    Variant("ko+m3", 185, 40),
    Variant("ko+f1", 160, 60),
    Variant("ko+m2", 165, 55),
    Variant("ko+f5", 175, 45),
    Variant("ko+m5", 150, 60),
    Variant("ko+m6", 180, 50),
)
HELDOUT_VARIANTS = (
    Variant("ko+m1", 175, 45),
    Variant("ko+f2", 155, 65),
    Variant("ko+m4", 190, 50),
    Variant("ko+f4", 165, 75),
    Variant("ko+m7", 145, 35),
)
TUNING_DATES = ("내일", "모레", "이번 주 금요일")
HELDOUT_DATES = ("다음 주 월요일", "십 오 일", "글피", "월말", "유월 십 일")
TUNING_AMOUNTS = ("오십 만 원", "삼천 원")
HELDOUT_AMOUNTS = ("십만 원", "만 원", "이십 만 위안", "오천 원")
#: Off-script turns (not in any grammar): the right answer is ``unknown``.
TUNING_OFF_SCRIPT = ("오늘 날씨가 정말 좋네요", "누구 세요", "무슨 말씀 이세요")
HELDOUT_OFF_SCRIPT = ("저녁 메뉴 뭐 먹지", "여보세요 잘 안 들려요", "우리 강아지 이름 은 초코 예요")
#: Line levels (dB relative to the synthesiser's output), cycled over utterances by seed.
LINE_LEVELS_DB = (0.0, -12.0, -6.0, 4.0)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One borrower turn to synthesise: what is said, in which state, meaning what."""

    state: str
    intent: str
    text: str
    variant: Variant
    seed: int


def phrasings(*, state: str, heldout: bool) -> Iterator[tuple[str, str]]:
    """(intent, text) for one state: a pack's phrases alternate between the two sets."""
    dates = HELDOUT_DATES if heldout else TUNING_DATES
    amounts = HELDOUT_AMOUNTS if heldout else TUNING_AMOUNTS
    for intent, phrases in get_pack(LOCALE).intent_phrases(state).items():
        for index, phrase in enumerate(phrases):
            if (index % 2 == 1) != heldout:
                continue
            text = phrase.replace("{date}", dates[index % len(dates)]).replace(
                "{amount}", amounts[index % len(amounts)]
            )
            yield intent, " ".join(text.split())
    for text in HELDOUT_OFF_SCRIPT if heldout else TUNING_OFF_SCRIPT:
        yield "unknown", text


def utterances(*, heldout: bool) -> list[Utterance]:
    """The set: every phrasing of every state, spoken by every variant of that set."""
    variants = HELDOUT_VARIANTS if heldout else TUNING_VARIANTS
    out: list[Utterance] = []
    for state in ("verify", "negotiate", "confirm"):
        for intent, text in phrasings(state=state, heldout=heldout):
            for variant in variants:
                out.append(Utterance(state, intent, text, variant, seed=len(out) + (10_000 if heldout else 0)))
    return out


def channel(*, samples: np.ndarray, rate: int, snr_db: float | None, seed: int) -> np.ndarray:
    """Pad with line silence, band-limit, add noise (``snr_db=None``: clean) and set the line level."""
    padded = np.concatenate([silence(ms=300, rate=rate), samples, silence(ms=500, rate=rate)])
    if snr_db is not None:  # None is a diagnostic: no band-limiting, no noise (still 8 kHz μ-law)
        padded = add_noise(telephone_band(padded, rate=rate), snr_db=snr_db, seed=seed)
    gain = 10 ** (LINE_LEVELS_DB[seed % len(LINE_LEVELS_DB)] / 20)
    return np.clip(np.rint(padded * gain), -32768, 32767).astype(np.int16)


def run(*, items: Sequence[Utterance], snr_db: float | None, workdir: Path) -> list[dict[str, Any]]:
    """Synthesise, degrade and recognise each utterance; one result row each."""
    recognizer = recognizer_for(locale=LOCALE)
    rows = []
    with EspeakSynthesizer(timeout_s=20.0) as tts:
        for index, item in enumerate(items):
            audio = tts.synthesize_variant(text=item.text, variant=item.variant)
            wav = workdir / f"{index}.wav"
            write_wav(
                wav,
                samples=channel(samples=audio.samples, rate=audio.rate, snr_db=snr_db, seed=item.seed),
                rate=audio.rate,
            )
            got = recognize_wav(
                wav, state=item.state, locale=LOCALE, as_of=AS_OF, currency=CURRENCY, recognizer=recognizer
            )
            wav.unlink()
            expected = understand(text=item.text, state=item.state, locale=LOCALE, as_of=AS_OF, currency=CURRENCY)
            if item.intent == "unknown":  # off-script: "오늘 날씨가 …" promises nothing
                expected["slots"] = {}
            rows.append(
                {
                    "state": item.state,
                    "said": item.text,
                    "variant": item.variant.label,
                    "intent": item.intent,
                    "heard": got["text"],
                    "got": got["intent"],
                    "slots_expected": expected["slots"],
                    "slots_got": got["slots"],
                    "confidence": got["confidence"],
                    "audio_seconds": got["asr"]["audio_seconds"],
                    "decode_seconds": got["asr"]["decode_seconds"],
                }
            )
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, per-intent accuracy, top confusions, slot accuracy and ASR real-time factor."""
    correct = [r for r in rows if r["got"] == r["intent"]]
    per_intent: dict[str, list[int]] = {}
    for r in rows:
        per_intent.setdefault(r["intent"], [0, 0])[0] += r["got"] == r["intent"]
        per_intent[r["intent"]][1] += 1
    confusions = Counter(f"{r['intent']}→{r['got']}" for r in rows if r["got"] != r["intent"])
    per_state: dict[str, list[int]] = {}
    for r in rows:
        per_state.setdefault(r["state"], [0, 0])[0] += r["got"] == r["intent"]
        per_state[r["state"]][1] += 1
    answered = [r for r in rows if r["got"] != "unknown"]
    with_slots = [r for r in rows if r["slots_expected"]]
    audio = sum(r["audio_seconds"] for r in rows)
    return {
        "utterances": len(rows),
        "accuracy": round(len(correct) / len(rows), 4) if rows else None,
        "per_intent": {
            k: {"correct": v[0], "total": v[1], "accuracy": round(v[0] / v[1], 3)} for k, v in per_intent.items()
        },
        "per_state": {k: round(v[0] / v[1], 3) for k, v in per_state.items()},
        "answered_share": round(len(answered) / len(rows), 4) if rows else None,
        "accuracy_when_answered": round(sum(r["got"] == r["intent"] for r in answered) / len(answered), 4)
        if answered
        else None,
        "confusions": dict(confusions.most_common(12)),
        "slot_utterances": len(with_slots),
        "slot_accuracy": round(sum(r["slots_got"] == r["slots_expected"] for r in with_slots) / len(with_slots), 4)
        if with_slots
        else None,
        "asr_rtf": round(sum(r["decode_seconds"] for r in rows) / audio, 4) if audio else None,
        "audio_seconds": round(audio, 1),
    }


def print_report(name: str, summary: dict[str, Any]) -> None:
    """Human-readable report of one set."""
    print(f"== {name}: {summary['utterances']} utterances, intent accuracy {summary['accuracy']:.1%}")
    for intent, stats in sorted(summary["per_intent"].items()):
        print(f"   {intent:<13} {stats['correct']:>4}/{stats['total']:<4} {stats['accuracy']:.0%}")
    print("   per state:", ", ".join(f"{k} {v:.0%}" for k, v in summary["per_state"].items()))
    print(
        f"   answered (not 'unknown', i.e. no re-prompt) {summary['answered_share']:.0%}, "
        f"accuracy when answered {summary['accuracy_when_answered']:.1%}"
    )
    print("   top confusions (said→understood):", ", ".join(f"{k} ×{v}" for k, v in summary["confusions"].items()))
    print(f"   slot accuracy {summary['slot_accuracy']} on {summary['slot_utterances']} utterances with slots")
    print(f"   ASR real-time factor {summary['asr_rtf']} (all lanes) over {summary['audio_seconds']} s of audio")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--set", choices=("heldout", "tuning", "both"), default="both")
    parser.add_argument("--snr", type=float, default=20.0, help="noise level in dB (default 20)")
    parser.add_argument("--clean", action="store_true", help="diagnostic: skip band-limiting and noise")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances of each set")
    parser.add_argument("--rows", type=Path, help="write every result row to this JSON file")
    args = parser.parse_args(argv)
    names = ("heldout", "tuning") if args.set == "both" else (args.set,)
    snr = None if args.clean else args.snr
    report: dict[str, Any] = {
        "locale": LOCALE,
        "decode_lanes": 1 + len(recognizer_for(locale=LOCALE).warps),
        "snr_db": snr,
        "channel": "clean" if args.clean else "phone",
        "sets": {},
    }
    all_rows: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="buyu-bench-") as tmp:
        for name in names:
            items = utterances(heldout=name == "heldout")
            items = items[: args.limit] if args.limit else items
            rows = run(items=items, snr_db=snr, workdir=Path(tmp))
            report["sets"][name] = summarise(rows)
            all_rows[name] = rows
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    if args.rows:
        args.rows.write_text(json.dumps(all_rows, ensure_ascii=False, indent=1))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(f"{LOCALE}, channel {report['channel']}, SNR {snr} dB, {report['decode_lanes']} decode lanes per turn")
        for name in names:
            print_report(name, report["sets"][name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
