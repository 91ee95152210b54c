"""Images for ``fastnet predict``: PNG (and other Pillow formats), ``.npy``
or IDX files, decoded into MNIST's layout.

MNIST digits are light ink (255) on a black background (0), 28x28 pixels.
``read_images`` returns what a file shows, as pixel bytes;
``light_background`` tells when an image is dark ink on white and so
needs inverting.  Pixels are scaled by the full range of their type, not
by what one image happens to hold, so that a faint digit stays faint:

==========================  ===============================
pixels                      become
==========================  ===============================
bool                        False -> 0, True -> 255
8-bit (uint8, 8-bit PNG)    as they are
16-bit (uint16, 16-bit PNG) 0 .. 65535 -> 0 .. 255, rounded
float                       0.0 .. 1.0 -> 0 .. 255, rounded
other integers              must already be 0 .. 255
==========================  ===============================

An image with transparency is composited onto a background that contrasts
with what is drawn (white under dark ink, black under light ink), as a
viewer shows it: a black digit drawn on a transparent canvas reads as a
digit, not as a blank.  Whatever cannot be such an image (a size other
than 28x28, found from the header before anything is decoded; no images;
values out of range; a file that is not an image) raises one
``ValueError`` line saying why.
"""

import math
import os
import warnings
from pathlib import Path

import numpy as np

from . import data
from .files import open_regular_file

#: File suffixes read through Pillow.
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                   ".webp")

#: Luminance weights of ITU-R 601, as Pillow's own RGB -> L conversion.
_LUMINANCE = np.array([0.299, 0.587, 0.114])


def read_images(path, shape=(28, 28)):
    """The images in a PNG (or other Pillow format), ``.npy`` or IDX file,
    as uint8 ``(n, *shape)``: 0 black, 255 white, as the file shows them
    (see the module docstring for how pixels are scaled)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        images = _read_npy(path)
    elif suffix in PILLOW_SUFFIXES:
        images = _read_with_pillow(path, shape)
    else:
        images = data.read_idx(path)
    return _to_bytes(_as_stack(images, shape))


def light_background(images):
    """Whether ``images`` (n, h, w) are dark ink on a light background
    (their border is light on average) and so need inverting."""
    if images.size == 0:
        return False
    border = np.concatenate([images[:, 0], images[:, -1],
                             images[:, :, 0], images[:, :, -1]], axis=1)
    return border.mean() > 127


# ------------------------------------------------------------ arrays

def _as_stack(images, shape):
    """``images`` as ``(n, *shape)``, n >= 1 (one image gets an axis)."""
    if images.ndim == len(shape):
        images = images[np.newaxis]
    if images.shape[1:] != tuple(shape):
        raise ValueError(f"expected {'x'.join(map(str, shape))} images, got "
                         f"an array of shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"holds no images (an array of shape "
                         f"{images.shape})")
    return images


def _to_bytes(images):
    """Pixels of any supported type -> uint8, scaled by the type's range."""
    kind, size = images.dtype.kind, images.dtype.itemsize
    if kind == "b":
        return images.astype(np.uint8) * np.uint8(255)
    if kind == "u" and size == 1:
        return images.astype(np.uint8, copy=False)
    if kind == "u" and size == 2:  # 16-bit: round(v * 255 / 65535)
        return ((images.astype(np.uint32) * 255 + 32767) // 65535) \
            .astype(np.uint8)
    if kind in "iu":
        low, high = images.min(), images.max()
        if low < 0 or high > 255:
            raise ValueError(f"pixels of type {images.dtype} must be 0..255, "
                             f"got {low}..{high} (use uint16 for 16-bit "
                             f"images, floats in [0, 1])")
        return images.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(images).all():
            raise ValueError("float pixels must be finite, got NaN or "
                             "infinity")
        low, high = images.min(), images.max()
        if low < 0 or high > 1:
            raise ValueError(f"float pixels must lie in [0, 1], got "
                             f"{low:g}..{high:g}")
        return np.rint(images.astype(np.float64) * 255).astype(np.uint8)
    raise ValueError(f"pixels must be numbers (bool, integers or floats), "
                     f"got dtype {images.dtype}")


# ------------------------------------------------------------ .npy files

def _read_npy(path):
    """The array of a ``.npy`` file, after its header proved the file
    holds exactly the data it declares (so nothing larger than the file
    is ever allocated) and no Python objects."""
    with open_regular_file(path) as file:
        try:
            version = np.lib.format.read_magic(file)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read_header:
                raise ValueError(f"unsupported format version {version}")
            shape, _, dtype = read_header[version](file)
        except ValueError as error:
            raise ValueError(f"not a NumPy .npy file ({error})") from None
        if dtype.hasobject:
            raise ValueError("holds Python objects, not pixels")
        found = os.fstat(file.fileno()).st_size - file.tell()
        expected = math.prod(shape) * dtype.itemsize
        if found != expected:
            raise ValueError(f"the header promises {expected:,} bytes of data "
                             f"for shape {shape}, the file has {found:,}")
        file.seek(0)
        return np.load(file, allow_pickle=False)


# ----------------------------------------------------------- Pillow files

def _read_with_pillow(path, shape):
    """The pixels of an image file, refused by the size in its header
    before anything is decoded."""
    try:
        from PIL import Image
    except ImportError:
        raise ValueError("reading images needs Pillow: pip install "
                         "'fastnet[images]'") from None
    height, width = shape
    with open_regular_file(path) as file, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(file)
        except (Image.DecompressionBombError,
                Image.DecompressionBombWarning) as error:
            raise ValueError(f"is far larger than a {width}x{height} image "
                             f"({error})") from None
        except Exception as error:  # Pillow's decoders raise many types
            raise ValueError(f"is not an image Pillow can read "
                             f"({error})") from None
        with image:
            if image.size != (width, height):
                raise ValueError(f"is a {image.width}x{image.height} image; "
                                 f"expected {width}x{height} images")
            try:
                return _pixels(image)
            except _Blank:
                raise ValueError("is fully transparent: nothing is drawn") \
                    from None
            except Exception as error:
                raise ValueError(f"cannot be decoded ({error})") from None


class _Blank(Exception):
    """An image whose every pixel is transparent."""


def _pixels(image):
    """The decoded pixels of a Pillow image: uint16 for 16-bit images,
    float32 for float ones, bool for 1-bit, else 8-bit grey, with any
    transparency composited."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":  # 32-bit integers: older Pillows' 16-bit PNGs
        pixels = np.asarray(image)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ValueError("32-bit integer pixels beyond the 16-bit range")
        return pixels.astype(np.uint16)
    if image.mode in ("F", "1"):
        return np.asarray(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or \
            "transparency" in image.info:
        return _composite(np.asarray(image.convert("RGBA"), np.float64))
    return np.asarray(image.convert("L"))


def _composite(rgba):
    """Grey ``(h, w)`` bytes of an ``(h, w, 4)`` RGBA image laid on white
    if what is drawn (weighted by its opacity) is dark, else on black."""
    grey = rgba[..., :3] @ _LUMINANCE
    opacity = rgba[..., 3] / 255
    if not opacity.any():
        raise _Blank
    drawn = (grey * opacity).sum() / opacity.sum()
    background = 255.0 if drawn < 128 else 0.0
    return np.rint(grey * opacity + background * (1 - opacity)) \
        .astype(np.uint8)
