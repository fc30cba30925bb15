"""Synthesized demo previews (music_assets/model/previews.py): valid WAV, at the track's tempo and key."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from music_assets.model.previews import SAMPLE_RATE, key_from_id, synthesize_preview


def samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def beat_period(x: np.ndarray) -> float:
    """Seconds between kicks: autocorrelation peak of the low-passed energy envelope."""
    hop = 256
    env = np.sqrt(np.convolve(x ** 2, np.ones(hop) / hop, mode="valid")[::hop])
    env = env - env.mean()
    ac = np.correlate(env, env, mode="full")[len(env) - 1:]
    lo, hi = int(0.25 * SAMPLE_RATE / hop), int(1.3 * SAMPLE_RATE / hop)  # 46..240 BPM
    return (lo + int(np.argmax(ac[lo:hi]))) * hop / SAMPLE_RATE


@pytest.mark.parametrize("tempo", [80.0, 120.0, 150.0])
def test_beat_follows_the_tempo(tempo: float) -> None:
    period = beat_period(samples(synthesize_preview(tempo, 0, True, 0.7, 0.9)))
    assert period == pytest.approx(60 / tempo, rel=0.08) or period == pytest.approx(30 / tempo, rel=0.08)


def test_key_sets_the_pitch_and_mode_the_third() -> None:
    def spectrum_peak(key: int) -> float:
        x = samples(synthesize_preview(100.0, key, True, 0.0, 0.0))[: SAMPLE_RATE * 3 // 10]  # first eighth note
        f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
        band = (f > 100) & (f < 500)
        return float(f[band][np.argmax(np.abs(np.fft.rfft(x))[band])])

    assert spectrum_peak(9) == pytest.approx(220.0, rel=0.02)   # A
    assert spectrum_peak(0) == pytest.approx(130.8, rel=0.02)   # C
    assert synthesize_preview(100.0, 0, True) != synthesize_preview(100.0, 0, False)


def test_deterministic_bounded_and_robust_to_bad_numbers() -> None:
    assert synthesize_preview(120.0, 5, False) == synthesize_preview(120.0, 5, False)
    for tempo in (float("nan"), 0.0, -5.0, 1e9):
        x = samples(synthesize_preview(tempo, 99, True, float("inf"), -3.0))
        assert len(x) and np.isfinite(x).all() and np.abs(x).max() <= 32767
    assert key_from_id("abc") == key_from_id("abc") and 0 <= key_from_id("xyz")[0] < 12
