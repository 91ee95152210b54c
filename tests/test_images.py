"""fastnet.images: the files ``fastnet predict`` reads.  Every image is
made here, tiny, from a real MNIST digit; each case checks the bytes
exactly, since every conversion below is exact for byte-valued digits."""

import os
import struct
import threading
import zlib

import numpy as np
import pytest

from fastnet import data
from fastnet.images import light_background, read_images

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def digit():
    """The first MNIST test image (a 7), uint8 (28, 28), ink 255."""
    images, _ = data.load_mnist("test")
    return np.array(images[0])


def one_line_error(path, match):
    with pytest.raises(ValueError, match=match) as caught:
        read_images(path)
    assert "\n" not in str(caught.value)
    return str(caught.value)


# ------------------------------------------------------------ what works

def test_grey_png_npy_and_idx(tmp_path, digit):
    Image.fromarray(digit).save(tmp_path / "seven.png")
    np.save(tmp_path / "seven.npy", digit)
    np.save(tmp_path / "three.npy", np.stack([digit] * 3))
    for name, n in (("seven.png", 1), ("seven.npy", 1), ("three.npy", 3)):
        images = read_images(tmp_path / name)
        assert images.dtype == np.uint8 and images.shape == (n, 28, 28)
        assert (images == digit).all()
        assert not light_background(images)
    idx = tmp_path / "two.idx"
    idx.write_bytes(b"\0\0\x08\x03" + struct.pack(">3I", 2, 28, 28) +
                    np.stack([digit, 255 - digit]).tobytes())
    images = read_images(idx)
    assert (images[0] == digit).all() and (images[1] == 255 - digit).all()


def test_dark_ink_on_white_is_read_as_shown(tmp_path, digit):
    Image.fromarray(255 - digit).convert("RGB").save(tmp_path / "ink.png")
    images = read_images(tmp_path / "ink.png")
    assert (images == 255 - digit).all() and light_background(images)


@pytest.mark.parametrize("ink", [0, 255])
def test_digit_drawn_in_the_alpha_channel(tmp_path, digit, ink):
    """A digit in one colour on a transparent canvas (the RGB under the
    transparent pixels is that same colour, as editors save it).  It was
    read as a blank, whatever the colour."""
    rgba = np.empty((28, 28, 4), np.uint8)
    rgba[..., :3] = ink
    rgba[..., 3] = digit
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    images = read_images(tmp_path / "alpha.png")
    if ink == 0:  # black ink: laid on white, then inverted by predict
        assert light_background(images)
        assert (255 - images[0] == digit).all()
    else:  # white ink: laid on black, already MNIST's layout
        assert not light_background(images)
        assert (images[0] == digit).all()


def test_grey_with_alpha_and_palette_transparency(tmp_path, digit):
    la = np.stack([np.zeros_like(digit), digit], axis=-1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert (255 - read_images(tmp_path / "la.png")[0] == digit).all()
    # A two-colour palette: black ink (index 1) on transparent index 0.
    palette = Image.fromarray((digit > 127).astype(np.uint8), "P")
    palette.putpalette([255, 255, 255, 0, 0, 0])
    palette.save(tmp_path / "p.png", transparency=0)
    assert (255 - read_images(tmp_path / "p.png")[0] ==
            np.where(digit > 127, 255, 0)).all()


def test_bool_arrays_are_ink_or_nothing(tmp_path, digit):
    np.save(tmp_path / "mask.npy", digit > 127)
    images = read_images(tmp_path / "mask.npy")
    assert set(np.unique(images)) == {0, 255}  # not 0 and 1
    assert (images[0] == np.where(digit > 127, 255, 0)).all()


def test_16_bit_images_keep_their_levels(tmp_path, digit):
    """16-bit values v * 257 are exactly the bytes v at 16 bits: they
    must come back as v, not clipped to 0 and 255."""
    wide = digit.astype(np.uint16) * 257
    Image.fromarray(wide).save(tmp_path / "wide.png")  # mode I;16
    np.save(tmp_path / "wide.npy", wide)
    for name in ("wide.png", "wide.npy"):
        images = read_images(tmp_path / name)
        assert (images[0] == digit).all(), name
        assert len(np.unique(images)) == len(np.unique(digit)) > 2


def test_float_images_in_0_1(tmp_path, digit):
    np.save(tmp_path / "float.npy", digit / 255)
    np.save(tmp_path / "float32.npy", (digit / 255).astype(np.float32))
    for name in ("float.npy", "float32.npy"):
        assert (read_images(tmp_path / name)[0] == digit).all()
    Image.fromarray((digit / 255).astype(np.float32), "F") \
        .save(tmp_path / "float.tiff")
    assert (read_images(tmp_path / "float.tiff")[0] == digit).all()


# ---------------------------------------------------- what is refused

def _png(width, height):
    """A PNG of any size that Pillow can open: signature, header, one
    tiny data chunk, end.  Its pixels are never there to decode."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height, match", [
    (15000, 15000, "far larger than a 28x28 image"),  # a decompression bomb
    (10000, 10000, "far larger than a 28x28 image"),  # Pillow warns only
    (100, 100, "is a 100x100 image; expected 28x28"),
    (28, 10**6, "is a 28x1000000 image"),
])
def test_sizes_are_refused_from_the_header(tmp_path, width, height, match):
    path = tmp_path / "big.png"
    path.write_bytes(_png(width, height))
    one_line_error(path, match)


@pytest.mark.parametrize("array, match", [
    (np.zeros((0, 28, 28), np.uint8), "holds no images .*\\(0, 28, 28\\)"),
    (np.zeros((3, 28, 27), np.uint8), "expected 28x28 images, got an array "
                                      "of shape \\(3, 28, 27\\)"),
    (np.zeros((28, 28, 3), np.uint8), "expected 28x28 images"),
    (np.full((28, 28), 300), "must be 0..255, got 300..300"),
    (np.full((28, 28), -1, np.int8), "must be 0..255"),
    (np.full((28, 28), 1.5), "must lie in \\[0, 1\\], got 1.5..1.5"),
    (np.full((28, 28), np.nan), "must be finite"),
    (np.zeros((28, 28), complex), "must be numbers"),
    (np.full((28, 28), "x"), "must be numbers"),
])
def test_arrays_that_cannot_be_images(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    one_line_error(tmp_path / "bad.npy", match)


def test_files_that_cannot_be_images(tmp_path, digit):
    (tmp_path / "text.png").write_text("not a picture")
    one_line_error(tmp_path / "text.png", "not an image Pillow can read")
    Image.fromarray(digit).save(tmp_path / "cut.png")
    whole = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])
    one_line_error(tmp_path / "cut.png", "cannot be decoded")
    (tmp_path / "text.npy").write_text("not an array")
    one_line_error(tmp_path / "text.npy", "not a NumPy .npy file")
    np.save(tmp_path / "objects.npy", np.array([None, 1]), allow_pickle=True)
    one_line_error(tmp_path / "objects.npy", "holds Python objects")
    Image.fromarray(np.zeros((28, 28, 4), np.uint8), "RGBA") \
        .save(tmp_path / "clear.png")
    one_line_error(tmp_path / "clear.png", "fully transparent")
    one_line_error(tmp_path / "absent.png", "no such file")


def test_a_header_promising_more_than_the_file_holds(tmp_path):
    """A .npy of one image whose header claims a billion is refused from
    the header, before NumPy would try to allocate 784 GB."""
    path = tmp_path / "liar.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {
            "descr": "|u1", "fortran_order": False,
            "shape": (10**9, 28, 28)})
        file.write(bytes(784))
    one_line_error(path, "the header promises 784,000,000,000 bytes of data "
                         "for shape \\(1000000000, 28, 28\\), the file "
                         "has 784")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
@pytest.mark.parametrize("name", ["pipe.png", "pipe.npy", "pipe.idx"])
def test_a_fifo_is_refused_without_blocking(tmp_path, name):
    os.mkfifo(tmp_path / name)
    outcome = []

    def read():
        try:
            read_images(tmp_path / name)
        except ValueError as error:
            outcome.append(str(error))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert outcome and "FIFO" in outcome[0]
