"""sensor_msgs/Image fields <-> numpy: round trips, zero-copy views, row padding, bad input."""
from __future__ import annotations

import array

import numpy as np
import pytest

from emotion_core.image import ENCODINGS, ImageFields, ImageFormatError, from_array, to_array, to_bgr


def pattern(h: int, w: int, c: int) -> np.ndarray:
    """Distinct value per (row, col, channel) so any transposition or offset shows."""
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    out = (y * 31 + x * 7 + k * 101) % 256
    return out.astype(np.uint8) if c > 1 else out[..., 0].astype(np.uint8)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_encoding(encoding):
    channels = ENCODINGS[encoding][0]
    img = pattern(5, 7, channels)
    fields = from_array(img, encoding)
    assert (fields.height, fields.width, fields.encoding) == (5, 7, encoding)
    assert fields.step == 7 * channels
    assert len(bytes(fields.data)) == 5 * 7 * channels
    np.testing.assert_array_equal(to_array(fields), img)


def test_to_array_is_a_view_of_the_message_buffer():
    buf = bytearray(pattern(4, 6, 3).tobytes())
    arr = to_array(ImageFields(4, 6, "bgr8", 18, buf))
    assert np.shares_memory(arr, np.frombuffer(buf, np.uint8))
    buf[0] = 255 - buf[0]  # a change in the message shows through the view
    assert arr[0, 0, 0] == buf[0]


def test_to_bgr_of_bgr8_is_the_same_view():
    img = pattern(3, 4, 3)
    fields = from_array(img, "bgr8")
    bgr = to_bgr(fields)
    assert np.shares_memory(bgr, img)
    np.testing.assert_array_equal(bgr, img)


def test_from_array_does_not_copy_a_contiguous_image():
    img = pattern(3, 4, 3)
    assert np.shares_memory(from_array(img, "bgr8").data, img)


def test_row_padding_is_skipped():
    # step 20 > 6 px * 3 B = 18: two padding bytes per row must not shift the next row.
    img = pattern(3, 6, 3)
    rows = [img[r].tobytes() + b"\xEE\xEE" for r in range(3)]
    arr = to_array(ImageFields(3, 6, "rgb8", 20, b"".join(rows)))
    np.testing.assert_array_equal(arr, img)


def test_zero_step_means_packed_rows():
    img = pattern(2, 3, 1)
    np.testing.assert_array_equal(to_array(ImageFields(2, 3, "mono8", 0, img.tobytes())), img)


def test_array_array_buffer_as_rclpy_gives_it():
    img = pattern(2, 3, 3)
    fields = ImageFields(2, 3, "bgr8", 9, array.array("B", img.tobytes()))
    np.testing.assert_array_equal(to_array(fields), img)


def test_to_bgr_converts_colour_orders():
    bgr = pattern(4, 5, 3)
    rgb = bgr[:, :, ::-1]
    np.testing.assert_array_equal(to_bgr(from_array(rgb, "rgb8")), bgr)
    alpha = np.full((4, 5, 1), 77, np.uint8)
    np.testing.assert_array_equal(to_bgr(from_array(np.concatenate([bgr, alpha], 2), "bgra8")), bgr)
    np.testing.assert_array_equal(to_bgr(from_array(np.concatenate([rgb, alpha], 2), "rgba8")), bgr)
    grey = pattern(4, 5, 1)
    out = to_bgr(from_array(grey, "mono8"))
    assert out.shape == (4, 5, 3)
    for k in range(3):
        np.testing.assert_array_equal(out[:, :, k], grey)


@pytest.mark.parametrize("encoding", ["yuv422", "16UC1", "bayer_rggb8", "BGR8", ""])
def test_unsupported_encoding_is_named(encoding):
    with pytest.raises(ImageFormatError, match="unsupported image encoding") as err:
        to_array(ImageFields(2, 2, encoding, 0, bytes(16)))
    assert "bgr8" in str(err.value)  # lists what is supported
    with pytest.raises(ImageFormatError, match="unsupported image encoding"):
        from_array(np.zeros((2, 2, 3), np.uint8), encoding)


@pytest.mark.parametrize("h, w", [(0, 10), (10, 0), (0, 0), (-1, 4)])
def test_zero_size_image_is_refused(h, w):
    with pytest.raises(ImageFormatError, match="no pixels"):
        to_array(ImageFields(h, w, "bgr8", 0, b""))


def test_truncated_buffer_is_refused():
    full = pattern(4, 5, 3).tobytes()
    with pytest.raises(ImageFormatError, match=r"buffer holds 59 B, 5x4 bgr8 with step 15 needs 60 B"):
        to_array(ImageFields(4, 5, "bgr8", 15, full[:-1]))
    with pytest.raises(ImageFormatError, match="holds 0 B"):
        to_array(ImageFields(4, 5, "bgr8", 15, b""))


def test_longer_buffer_uses_only_the_declared_rows():
    img = pattern(2, 2, 1)
    np.testing.assert_array_equal(to_array(ImageFields(2, 2, "mono8", 2, img.tobytes() + b"xyz")), img)


def test_step_smaller_than_a_row_is_refused():
    with pytest.raises(ImageFormatError, match="step 10 is smaller than one row of 4 bgr8 pixels \\(12 B\\)"):
        to_array(ImageFields(2, 4, "bgr8", 10, bytes(24)))


@pytest.mark.parametrize("shape, encoding", [((4, 4), "bgr8"), ((4, 4, 3), "mono8"), ((4, 4, 4), "rgb8"),
                                             ((4, 4, 3), "bgra8")])
def test_from_array_shape_must_fit_encoding(shape, encoding):
    with pytest.raises(ImageFormatError, match="does not fit encoding"):
        from_array(np.zeros(shape, np.uint8), encoding)
