"""Audio: PCM codecs, resampling, file loading, level / voice activity and the log-mel features.

Expected values come from the formats' definitions (two's complement little endian, offset-binary
U8), from the Slaney mel scale written out here by hand, and from the pre-emphasis filter's
frequency response; nothing is copied from a previous run.
"""
from __future__ import annotations

import array
import math

import numpy as np
import pytest

from emotion_core.audio import (SAMPLE_FORMATS, AudioFormatError, decode_pcm, encode_pcm,
                                fit_window, load_audio, log_mel, resample, rms_dbfs)
from emotion_core.contract import AudioSpec

SR = 16000


def tone(freq: float, seconds: float, rate: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1.0 / rate)[np.argmax(spectrum)])


# -- PCM decoding --------------------------------------------------------------------------------
def test_s16le_known_bytes_are_little_endian_twos_complement():
    # 0x4000 = 16384 -> 0.5; 0x8000 = -32768 -> -1.0; 0xFFFF = -1 -> -1/32768.
    data = bytes([0x00, 0x40, 0x00, 0x80, 0xFF, 0xFF])
    np.testing.assert_array_equal(decode_pcm(data, "S16LE"), [0.5, -1.0, -1.0 / 32768])


def test_u8_known_bytes_are_offset_binary():
    np.testing.assert_array_equal(decode_pcm(bytes([0, 128, 192, 255]), "U8"),
                                  [-1.0, 0.0, 0.5, 127 / 128])


def test_s32le_known_bytes():
    data = (2**30).to_bytes(4, "little", signed=True) + (-(2**31)).to_bytes(4, "little", signed=True)
    np.testing.assert_array_equal(decode_pcm(data, "S32LE"), [0.5, -1.0])


@pytest.mark.parametrize("fmt, step", [("S16LE", 2.0**-15), ("U8", 2.0**-7), ("S32LE", 2.0**-23)])
def test_integer_round_trip_is_exact_on_the_format_grid(fmt, step):
    # Every value on the format's quantisation grid (within float32 precision) survives.
    k = np.arange(-1.0 / step, 1.0 / step, max(1.0, (2.0 / step) / 4096))
    x = (k * step).astype(np.float32)
    np.testing.assert_array_equal(decode_pcm(encode_pcm(x, fmt), fmt), x)


def test_f32le_round_trip_is_bit_exact():
    x = np.random.default_rng(1).uniform(-4, 4, 1000).astype(np.float32)  # floats are not clipped
    np.testing.assert_array_equal(decode_pcm(encode_pcm(x, "F32LE"), "F32LE"), x)


@pytest.mark.parametrize("fmt, lo, hi", [("S16LE", -(2**15), 2**15 - 1), ("S32LE", -(2**31), 2**31 - 1),
                                         ("U8", 0, 255)])
def test_integer_encoding_clips_to_full_scale(fmt, lo, hi):
    raw = encode_pcm(np.array([1.0, 1.5, 1e9, -1.0, -1.5, -1e9], np.float32), fmt)
    ints = np.frombuffer(raw, SAMPLE_FORMATS[fmt]).astype(np.int64)
    # +1.0 is one step above the largest code, so it clips to it, like anything louder.
    np.testing.assert_array_equal(ints, [hi, hi, hi, lo, lo, lo])


def test_quantisation_error_is_at_most_half_a_step():
    x = np.random.default_rng(2).uniform(-0.99, 0.99, 5000).astype(np.float32)
    err = np.abs(decode_pcm(encode_pcm(x, "S16LE"), "S16LE") - x)
    assert err.max() <= 0.5 / 32768 + 1e-9


def test_interleaved_channels_are_averaged():
    left, right = np.array([0.5, -0.5, 0.25]), np.array([-0.25, 0.5, 0.25])
    inter = np.stack([left, right], axis=1).reshape(-1)
    np.testing.assert_allclose(decode_pcm(encode_pcm(inter, "S16LE"), "S16LE", channels=2),
                               (left + right) / 2)
    three = np.stack([left, right, np.zeros(3)], axis=1).reshape(-1)
    np.testing.assert_allclose(decode_pcm(encode_pcm(three, "F32LE"), "F32LE", channels=3),
                               (left + right) / 3, rtol=1e-6)


def test_lower_case_format_names_are_accepted():
    np.testing.assert_array_equal(decode_pcm(bytes([0, 0x40]), "s16le"), [0.5])


def test_all_buffer_types_decode_alike():
    x = np.array([0.5, -0.25, 0.125], np.float32)
    raw = encode_pcm(x, "S16LE")
    as_int16 = np.frombuffer(raw, "<i2").copy()  # the samples themselves, not bytes
    for data in (raw, bytearray(raw), memoryview(raw), np.frombuffer(raw, np.uint8),
                 array.array("B", raw), as_int16):
        np.testing.assert_array_equal(decode_pcm(data, "S16LE"), x, err_msg=type(data).__name__)


def test_empty_buffer_gives_no_samples():
    out = decode_pcm(b"", "S16LE")
    assert out.dtype == np.float32 and out.size == 0


@pytest.mark.parametrize("fmt", ["S24LE", "S16BE", "MP3", ""])
def test_unknown_sample_format_is_named(fmt):
    with pytest.raises(AudioFormatError, match="unsupported sample_format") as err:
        decode_pcm(b"\x00\x00", fmt)
    assert "S16LE" in str(err.value)  # the message lists what would work
    with pytest.raises(AudioFormatError, match="unsupported sample_format"):
        encode_pcm(np.zeros(2), fmt)


@pytest.mark.parametrize("nbytes, fmt, channels", [(3, "S16LE", 1), (6, "S16LE", 2), (5, "F32LE", 1),
                                                   (8, "S32LE", 3)])
def test_truncated_buffer_is_refused(nbytes, fmt, channels):
    with pytest.raises(AudioFormatError, match=f"{nbytes} bytes is not a whole number"):
        decode_pcm(bytes(nbytes), fmt, channels)


def test_channels_must_be_positive():
    with pytest.raises(AudioFormatError, match="channels must be >= 1"):
        decode_pcm(bytes(4), "S16LE", channels=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_refused(bad):
    raw = np.array([0.1, bad, 0.2], "<f4").tobytes()
    with pytest.raises(AudioFormatError, match="NaN or infinite"):
        decode_pcm(raw, "F32LE")


# -- resampling and files ------------------------------------------------------------------------
def test_resample_keeps_frequency_and_duration():
    x = tone(1000.0, 1.0, rate=48000)
    y = resample(x, 48000, SR)
    assert y.dtype == np.float32
    assert y.size == 16000
    assert dominant_hz(y, SR) == pytest.approx(1000.0, abs=1.0)
    assert rms_dbfs(y[1000:-1000]) == pytest.approx(rms_dbfs(x[3000:-3000]), abs=0.1)


def test_resample_same_rate_is_identity():
    x = tone(440.0, 0.1)
    assert resample(x, SR, SR) is x


def _write(path, data, rate, subtype):
    import soundfile as sf

    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_load_stereo_44k1_wav_to_mono_16k(tmp_path):
    rate = 44100
    left = tone(1000.0, 1.0, rate=rate, amp=0.5)
    path = _write(tmp_path / "stereo.wav", np.stack([left, np.zeros_like(left)], axis=1), rate, "PCM_16")
    y = load_audio(path, SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 16000) <= 1
    assert dominant_hz(y, SR) == pytest.approx(1000.0, abs=1.0)
    # mono = (L + R) / 2 -> a 0.25 amplitude sine: RMS 0.25 / sqrt(2).
    assert rms_dbfs(y[500:-500]) == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)), abs=0.1)


def test_load_three_channel_8k_flac_upsampled(tmp_path):
    rate = 8000
    n = rate  # 1 s
    data = np.stack([np.full(n, 0.3), np.full(n, -0.1), np.full(n, 0.1)], axis=1)
    path = _write(tmp_path / "three.flac", data, rate, "PCM_24")
    y = load_audio(path, 22050)
    assert abs(y.size - 22050) <= 1
    # The channel mean is a constant 0.1; away from the filter's edge transients it stays so.
    np.testing.assert_allclose(y[2000:-2000], 0.1, atol=1e-3)


def test_load_u8_wav(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 0.25] * 100, np.float32)
    path = _write(tmp_path / "u8.wav", x, SR, "PCM_U8")
    np.testing.assert_allclose(load_audio(path, SR), x, atol=1 / 128)


def test_load_segment_by_time(tmp_path):
    ramp = (np.arange(SR, dtype=np.float32) / SR)  # sample i holds i / SR
    path = _write(tmp_path / "ramp.wav", ramp, SR, "FLOAT")
    seg = load_audio(path, SR, start_s=0.5, duration_s=0.25)
    np.testing.assert_array_equal(seg, ramp[8000:12000])


def test_load_missing_file(tmp_path):
    with pytest.raises(AudioFormatError, match="audio file not found"):
        load_audio(tmp_path / "missing.wav", SR)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEgarbage", bytes(range(256)) * 8])
def test_load_corrupt_file(tmp_path, content):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFormatError, match="cannot read audio file .*corrupt.wav"):
        load_audio(path, SR)


# -- level and voice activity ----------------------------------------------------------------------
def test_rms_dbfs_of_known_signals():
    # A full-scale sine has RMS 1/sqrt(2): -3.0103 dBFS; a 0.1 square wave -20 dBFS.
    assert rms_dbfs(tone(1000.0, 1.0, amp=1.0)) == pytest.approx(-3.0103, abs=1e-3)
    assert rms_dbfs(np.array([0.1, -0.1] * 100)) == pytest.approx(-20.0, abs=1e-9)
    assert rms_dbfs(np.zeros(100)) == -math.inf
    assert rms_dbfs(np.zeros(0)) == -math.inf


# -- windows and log-mel ------------------------------------------------------------------------
def test_fit_window_left_pads_or_keeps_the_end():
    spec = AudioSpec(sample_rate=8000, window_s=0.5, fmax=4000)  # 4000 samples
    short = np.arange(1, 1001, dtype=np.float32)
    out = fit_window(short, spec)
    assert out.size == 4000
    np.testing.assert_array_equal(out[:3000], 0)
    np.testing.assert_array_equal(out[3000:], short)
    long = np.arange(10000, dtype=np.float32)
    np.testing.assert_array_equal(fit_window(long, spec), long[-4000:])


@pytest.mark.parametrize("spec", [
    AudioSpec(),
    AudioSpec(sample_rate=22050, window_s=1.5, n_fft=1024, hop_length=256, win_length=1024,
              n_mels=80, fmax=11025),
    AudioSpec(sample_rate=8000, window_s=3.0, n_mels=32, fmin=0, fmax=4000),
])
def test_log_mel_shape_matches_the_contract(spec):
    feats = log_mel(np.random.default_rng(0).standard_normal(1234).astype(np.float32) * 0.1, spec)
    assert feats.dtype == np.float32
    assert feats.shape == (spec.n_mels, spec.frames)


def test_log_mel_of_silence_is_the_log_floor():
    spec = AudioSpec(norm_mean=-3.0, norm_std=2.0)
    feats = log_mel(np.zeros(500, np.float32), spec)
    np.testing.assert_allclose(feats, (math.log(spec.log_floor) + 3.0) / 2.0, rtol=1e-6)


def test_log_mel_uses_only_the_window_that_ends_at_the_frame():
    spec = AudioSpec()
    x = np.concatenate([tone(1000.0, 1.0), np.zeros(spec.window_samples, np.float32)])
    np.testing.assert_allclose(log_mel(x, spec), math.log(spec.log_floor), rtol=1e-6)


def test_log_mel_normalisation():
    x = tone(700.0, 2.0)
    base = log_mel(x, AudioSpec())
    normed = log_mel(x, AudioSpec(norm_mean=-4.0, norm_std=3.0))
    np.testing.assert_allclose(normed, (base + 4.0) / 3.0, rtol=1e-5, atol=1e-5)


def slaney_hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox mel scale: linear below 1 kHz (200/3 Hz per mel), log above
    (27 mels per factor 6.4)."""
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def slaney_mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * math.log(6.4) / 27.0), m * 200.0 / 3)


def band_centres(spec: AudioSpec) -> np.ndarray:
    """Centre frequency of each triangular mel filter: n_mels + 2 equally spaced mel points,
    filter i spans points i .. i + 2 and peaks at point i + 1."""
    edges = slaney_mel_to_hz(np.linspace(slaney_hz_to_mel(spec.fmin), slaney_hz_to_mel(spec.fmax),
                                         spec.n_mels + 2))
    return edges[1:-1]


def test_hand_written_mel_scale_is_slaney():
    assert slaney_hz_to_mel(1000.0) == pytest.approx(15.0)
    assert slaney_mel_to_hz(slaney_hz_to_mel(np.array([60.0, 999.0, 4321.0]))) == pytest.approx(
        [60.0, 999.0, 4321.0])


@pytest.mark.parametrize("band", [8, 20, 32, 50])
def test_a_tone_lands_in_the_mel_band_centred_on_it(band):
    spec = AudioSpec()
    f0 = float(band_centres(spec)[band])
    feats = log_mel(tone(f0, spec.window_s), spec)
    profile = feats[:, 5:-5].mean(axis=1)  # interior frames: no edge padding effects
    assert int(np.argmax(profile)) == band
    # Far from the tone (an octave and more away) the energy is orders of magnitude lower.
    centres = band_centres(spec)
    far = (centres < f0 / 2) | (centres > f0 * 2)
    assert profile[band] - profile[far].max() > math.log(1e3)


def test_the_one_khz_tone_is_in_the_band_nearest_one_khz():
    spec = AudioSpec()
    c = band_centres(spec)
    nearest = int(np.argmin(np.abs(c - 1000.0)))
    # With 64 bands over 50..8000 Hz the neighbours' centres are ~50 Hz away from 1 kHz, the
    # nearest one < 10 Hz: the tone is unambiguously in that band.
    assert min(abs(c[nearest - 1] - 1000), abs(c[nearest + 1] - 1000)) > 4 * abs(c[nearest] - 1000)
    feats = log_mel(tone(1000.0, 2.0), spec)
    assert int(np.argmax(feats[:, 5:-5].mean(axis=1))) == nearest


@pytest.mark.parametrize("band", [25, 50])
def test_preemphasis_scales_a_tone_by_the_filter_response(band):
    # y[n] = x[n] - a x[n-1] has |H(w)|^2 = 1 - 2 a cos(w) + a^2; in the log domain the tone's
    # band moves by log |H(w0)|^2.
    a = 0.97
    with_pe, without = AudioSpec(preemphasis=a), AudioSpec(preemphasis=0.0)
    f0 = float(band_centres(with_pe)[band])
    x = tone(f0, 2.0)
    w0 = 2 * math.pi * f0 / SR
    expected = math.log(1 - 2 * a * math.cos(w0) + a * a)
    delta = log_mel(x, with_pe)[band, 5:-5].mean() - log_mel(x, without)[band, 5:-5].mean()
    assert delta == pytest.approx(expected, abs=0.05)
