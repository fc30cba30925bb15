"""A few seconds of synthesized audio for demo tracks, so the web player works offline.

The demo catalog has no real audio, only `demo://preview/<id>` placeholders. This renders a short
loop that sounds like the track's numbers: its tempo sets the beat, its key and mode the chord
(tonic triad, major or minor), energy the loudness and brightness, danceability how much drum
there is. Written with numpy and the standard `wave` module (16-bit mono WAV): no audio library
is needed for something this small. Deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import wave
from functools import lru_cache

import numpy as np

from music_assets.schema import SYNTHESIZED_PREVIEW_SCHEME

SAMPLE_RATE = 22_050
DEFAULT_SECONDS = 6.0


def _clip(x: float, lo: float, hi: float, default: float) -> float:
    return default if not np.isfinite(x) else float(min(hi, max(lo, x)))


@lru_cache(maxsize=256)
def synthesize_preview(tempo: float, key: int, major: bool, energy: float = 0.6,
                       danceability: float = 0.6, seconds: float = DEFAULT_SECONDS) -> bytes:
    """WAV bytes: an arpeggiated tonic chord on every beat at `tempo` BPM in `key` (0 = C)."""
    tempo = _clip(tempo, 50.0, 220.0, 120.0)
    energy = _clip(energy, 0.0, 1.0, 0.6)
    danceability = _clip(danceability, 0.0, 1.0, 0.6)
    seconds = _clip(seconds, 0.5, 30.0, DEFAULT_SECONDS)
    key = int(key) % 12
    n = int(SAMPLE_RATE * seconds)
    t = np.arange(n) / SAMPLE_RATE
    beat = 60.0 / tempo
    root = 220.0 * 2 ** ((key - 9) / 12)  # A3 = 220 Hz, key 0 = C3
    chord = [0, 4 if major else 3, 7, 12]
    step = beat / 2  # eighth notes
    note_index = (t // step).astype(int)
    freqs = root * 2 ** (np.take(chord, note_index % len(chord)) / 12)
    phase = 2 * np.pi * np.cumsum(freqs) / SAMPLE_RATE
    since = t - note_index * step
    envelope = np.exp(-since * (6.0 - 3.0 * energy))
    brightness = 0.15 + 0.5 * energy
    tone = (np.sin(phase) + brightness * np.sin(2 * phase) + 0.5 * brightness * np.sin(3 * phase)) * envelope
    # Kick drum on each beat: a falling sine burst; its level follows danceability.
    since_beat = t % beat
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-since_beat * 30)) * since_beat) * np.exp(-since_beat * 18)
    hat_rng = np.random.default_rng(key * 1000 + int(tempo))
    since_off = (t + beat / 2) % beat
    hat = hat_rng.standard_normal(n)
    hat = hat * np.exp(-since_off * 60) * 0.15 * energy
    signal = 0.45 * tone + (0.3 + 0.5 * danceability) * kick + hat
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)  # no clicks at the loop ends
    signal = signal * fade
    peak = float(np.max(np.abs(signal))) or 1.0
    pcm = (signal / peak * (0.35 + 0.45 * energy) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def key_from_id(track_id: str) -> tuple[int, bool]:
    """A stable key and mode for a track whose bundle carries none (the model drops key/mode)."""
    h = sum((i + 1) * ord(c) for i, c in enumerate(track_id))
    return h % 12, (h // 12) % 2 == 0


def is_synthesized(preview_url: object) -> bool:
    """True when the bundle's preview_url asks for a synthesized preview rather than naming audio."""
    return isinstance(preview_url, str) and preview_url.startswith(SYNTHESIZED_PREVIEW_SCHEME)
