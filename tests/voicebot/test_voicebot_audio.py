"""Audio helpers: G.711 μ-law, resampling, WAV I/O, framing and the energy endpointer."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import (
    ULAW_FRAME_BYTES,
    Agc,
    Audio,
    BandFill,
    Endpointer,
    EndpointEvent,
    StreamResampler,
    StreamUpsampler,
    add_noise,
    frames,
    read_wav,
    resample,
    silence,
    telephone_band,
    to_ulaw_frames,
    ulaw_decode,
    ulaw_encode,
    ulaw_frames_to_asr,
    write_wav,
)
from voicebot.tts import EspeakSynthesizer, Variant

#: sha256 of ulaw_encode over every int16 value, checked bit-exact against the ITU G.711
#: reference coder (CPython's audioop.lin2ulaw) when this module was written.
FULL_RANGE_SHA256 = "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"


def sine(*, seconds: float, rate: int, freq: float = 440.0, amplitude: float = 8000.0) -> np.ndarray:
    """A test tone."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT bin."""
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_ulaw_matches_g711_reference_bit_exact() -> None:
    """Encoding all 65536 int16 values gives the G.711 reference codes (pinned digest + known codes)."""
    everything = np.arange(-32768, 32768, dtype=np.int16)
    assert hashlib.sha256(ulaw_encode(everything)).hexdigest() == FULL_RANGE_SHA256
    assert ulaw_encode(np.array([0, 32767, -32768, -1], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00, 0x7E])


def test_ulaw_round_trip() -> None:
    """decode∘encode keeps a signal within μ-law's quantisation error, encode∘decode is identity."""
    signal = sine(seconds=0.5, rate=8000, amplitude=20000)
    decoded = ulaw_decode(ulaw_encode(signal))
    error = np.abs(decoded.astype(int) - signal.astype(int))
    assert np.all(error <= np.maximum(16, np.abs(signal.astype(int)) // 16))  # ≤ ~6% of the sample
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F and 0xFF both mean 0; 0xFF is canonical
    assert ulaw_encode(ulaw_decode(codes)) == codes


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 16000), (44100, 16000)])
def test_resample_keeps_frequency_and_length(src: int, dst: int) -> None:
    """A 440 Hz tone stays at 440 Hz with the right number of samples after resampling."""
    out = resample(sine(seconds=1.0, rate=src), src_rate=src, dst_rate=dst)
    assert abs(len(out) - dst) <= 1
    assert abs(dominant_hz(out, dst) - 440) <= 2
    assert 6500 < np.abs(out[dst // 10 : -dst // 10]).max() < 9000


def test_stream_upsampler_is_chunking_invariant() -> None:
    """Upsampling in 20 ms pieces equals upsampling the whole signal (so live == file)."""
    signal = sine(seconds=1.0, rate=8000, freq=700)
    whole = StreamUpsampler().push(signal)
    upsampler = StreamUpsampler()
    pieces = np.concatenate([upsampler.push(signal[i : i + 160]) for i in range(0, len(signal), 160)])
    assert np.array_equal(whole, pieces)
    assert abs(dominant_hz(whole, 16000) - 700) <= 2


@pytest.mark.parametrize(("up", "down"), [(10, 9), (9, 10), (20, 19)])
def test_stream_resampler_warps_frequency_and_is_chunking_invariant(up: int, down: int) -> None:
    """A warp lane's resampler scales a tone's frequency by down/up and its length by up/down,
    and 20 ms pieces give exactly the samples of the whole signal."""
    signal = sine(seconds=1.0, rate=16000, freq=1000)
    resampler = StreamResampler(up=up, down=down)
    whole = np.concatenate([resampler.push(signal), resampler.flush()])
    resampler = StreamResampler(up=up, down=down)
    pieces = [resampler.push(signal[i : i + 320]) for i in range(0, len(signal), 320)]
    assert np.array_equal(whole, np.concatenate([*pieces, resampler.flush()]))
    assert abs(len(whole) - 16000 * up / down) <= 16
    assert abs(dominant_hz(whole[: 16000 * up // down], 16000) - 1000 * down / up) <= 3
    assert 6500 < np.abs(whole[2000:-2000]).max() < 9000


def test_wav_round_trip_mono_16bit(tmp_path: Path) -> None:
    """write_wav then read_wav returns the same samples and rate."""
    signal = sine(seconds=0.2, rate=11025)
    write_wav(tmp_path / "a.wav", samples=signal, rate=11025)
    audio = read_wav(tmp_path / "a.wav")
    assert audio.rate == 11025 and np.array_equal(audio.samples, signal)


def test_wav_reads_stereo_8bit_and_ulaw(tmp_path: Path) -> None:
    """8-bit stereo PCM is downmixed and rescaled; a G.711 μ-law WAV (format 7) is decoded."""
    left = np.full(100, 200, dtype=np.uint8)
    right = np.full(100, 56, dtype=np.uint8)
    with wave.open(str(tmp_path / "s8.wav"), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(np.column_stack([left, right]).tobytes())
    stereo = read_wav(tmp_path / "s8.wav")
    assert stereo.rate == 8000 and len(stereo.samples) == 100 and set(stereo.samples.tolist()) == {0}

    signal = sine(seconds=0.1, rate=8000)
    payload = ulaw_encode(signal)
    fmt = (7).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    body = (
        b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + len(payload).to_bytes(4, "little")
        + payload
    )
    (tmp_path / "u.wav").write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    ulaw = read_wav(tmp_path / "u.wav")
    assert ulaw.rate == 8000 and np.array_equal(ulaw.samples, ulaw_decode(payload))


def test_framing_into_20ms_ulaw_frames() -> None:
    """Any-rate audio becomes 160-byte frames; the last one is padded with μ-law silence."""
    out = to_ulaw_frames(Audio(samples=sine(seconds=0.31, rate=16000), rate=16000))
    assert len(out) == 16 and all(len(f) == ULAW_FRAME_BYTES for f in out)
    assert out[-1].endswith(b"\xff" * 80)
    assert frames(b"\x01" * 161) == [b"\x01" * 160, b"\x01" + b"\xff" * 159]
    assert len(ulaw_frames_to_asr(out)) == 2 * 160 * len(out)


def test_telephone_band_and_noise() -> None:
    """The band filter removes 100 Hz and keeps 1 kHz; noise lands near the requested SNR."""
    low, mid = sine(seconds=1, rate=8000, freq=100), sine(seconds=1, rate=8000, freq=997)
    assert np.abs(telephone_band(low, rate=8000)).max() < 0.1 * np.abs(low).max()
    assert np.abs(telephone_band(mid, rate=8000)).max() > 0.9 * np.abs(mid).max()
    noisy = add_noise(mid, snr_db=20, seed=1)
    noise = noisy.astype(float) - mid
    snr = 10 * np.log10(np.mean(mid.astype(float) ** 2) / np.mean(noise**2))
    assert 19 < snr < 21
    assert np.array_equal(noisy, add_noise(mid, snr_db=20, seed=1))


def run_endpointer(samples: np.ndarray, rate: int, endpointer: Endpointer) -> list[tuple[int, EndpointEvent]]:
    """Feed 20 ms μ-law frames of ``samples``; return (frame index, event) for every transition."""
    events: list[tuple[int, EndpointEvent]] = []
    for index, frame in enumerate(to_ulaw_frames(Audio(samples=samples, rate=rate))):
        event = endpointer.push_ulaw(frame)
        if event is not EndpointEvent.NONE:
            events.append((index, event))
    return events


def test_endpointer_on_synthesised_speech(tts: EspeakSynthesizer) -> None:
    """Real espeak-ng speech between silences gives one start near the speech and one end after 600 ms."""
    speech = tts.synthesize_variant(text="내일 입금 할게요", variant=Variant("ko", 170, 50))
    rate = speech.rate
    signal = np.concatenate([silence(ms=1000, rate=rate), speech.samples, silence(ms=1500, rate=rate)])
    signal = add_noise(signal, snr_db=35, seed=3)  # a live line is never digitally silent
    events = run_endpointer(signal, rate, Endpointer(end_silence_ms=600))
    assert [e for _, e in events] == [EndpointEvent.SPEECH_START, EndpointEvent.SPEECH_END]
    voiced = np.nonzero(np.abs(speech.samples) > 300)[0]  # espeak pads its own output with silence
    voice_start_ms = 1000 + 1000 * voiced[0] / rate
    voice_end_ms = 1000 + 1000 * voiced[-1] / rate
    start_ms, end_ms = events[0][0] * 20, events[1][0] * 20
    assert voice_start_ms <= start_ms + 20 <= voice_start_ms + 200
    assert voice_end_ms + 500 <= end_ms <= voice_end_ms + 900


def test_endpointer_ignores_short_clicks_and_steady_noise() -> None:
    """A 20 ms click does not start speech; neither does steady line noise well above -40 dBFS."""
    rate = 8000
    click = np.concatenate([silence(ms=500, rate=rate), sine(seconds=0.02, rate=rate), silence(ms=500, rate=rate)])
    assert run_endpointer(click, rate, Endpointer()) == []
    hum = add_noise(np.zeros(rate * 3, dtype=np.int16) + 1, snr_db=-30, seed=2)
    hum = (hum.astype(float) * 0.05).astype(np.int16)  # about -35 dBFS of noise
    tail = np.concatenate([hum, (hum.astype(float) + sine(seconds=3, rate=rate)).astype(np.int16)])
    events = run_endpointer(tail, rate, Endpointer())
    assert events and events[0][1] is EndpointEvent.SPEECH_START and events[0][0] >= 150


def _level_dbfs(samples: np.ndarray) -> float:
    active = samples[np.abs(samples) > 0].astype(np.float64)
    return float(20 * np.log10(np.sqrt(np.mean(active**2)) / 32768))


def _agc_run(samples: np.ndarray, chunk: int) -> np.ndarray:
    agc = Agc()
    out = [agc.push(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
    return np.concatenate([*out, agc.flush()])


def test_agc_waits_for_speech_then_levels_quiet_and_loud_lines() -> None:
    """Speech 20 dB quiet or 10 dB loud comes out near -19 dBFS from its first sample; nothing is lost."""
    rng = np.random.default_rng(3)
    line = rng.normal(0, 30, 16000 * 2)  # −60 dBFS line noise
    line[8000:28000] += rng.normal(0, 3000, 20000) * np.hanning(20000) ** 0.2  # a 1.25 s "utterance"
    for gain_db in (-20.0, 10.0):
        samples = np.clip(line * 10 ** (gain_db / 20), -32768, 32767).astype(np.int16)
        out = _agc_run(samples, 320)
        assert len(out) == len(samples)
        assert abs(_level_dbfs(out[8000:28000]) - (-19.0)) < 3.0
    assert len(Agc().push(np.zeros(100, dtype=np.int16))) == 0  # held until a full frame / speech


def test_agc_and_band_fill_are_chunking_invariant() -> None:
    """Feeding 20 ms or odd-sized chunks gives the same samples: a live call equals a file."""
    rng = np.random.default_rng(5)
    samples = (rng.normal(0, 2000, 16000) * (np.arange(16000) > 4000)).astype(np.int16)
    assert np.array_equal(_agc_run(samples, 320), _agc_run(samples, 777))
    whole = BandFill().push(samples)
    fill = BandFill()
    pieces = np.concatenate([fill.push(samples[i : i + 333]) for i in range(0, len(samples), 333)])
    assert np.array_equal(whole, pieces)


def test_band_fill_adds_noise_only_above_the_telephone_band() -> None:
    """The comfort noise sits above 4 kHz at about the configured RMS; the speech band is untouched."""
    filled = BandFill(rms=100.0).push(np.zeros(16000, dtype=np.int16)).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(filled)) ** 2
    freqs = np.fft.rfftfreq(len(filled), 1 / 16000)
    assert spectrum[freqs < 3000].sum() < 1e-3 * spectrum[freqs > 4500].sum()
    assert 50 < np.sqrt(np.mean(filled**2)) < 100
