"""Images for ``fastnet predict``: PNG (and other Pillow formats), ``.npy``
or IDX files, decoded into MNIST's layout.

MNIST digits are light ink (255) on a black background (0), 28x28 pixels.
``read_images`` returns what a file holds in that layout, as pixel bytes;
``light_background`` tells when an image is dark ink on white instead.
"""

from pathlib import Path

import numpy as np

from . import data

#: File suffixes read through Pillow.
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                   ".webp")


def read_images(path, shape=(28, 28)):
    """The images in a PNG (or other Pillow format), ``.npy`` or IDX file,
    as uint8 ``(n, *shape)``."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        images = np.load(path, allow_pickle=False)
    elif path.suffix.lower() in PILLOW_SUFFIXES:
        try:
            from PIL import Image
        except ImportError:
            raise ValueError("reading images needs Pillow: pip install "
                             "'fastnet[images]'") from None
        with Image.open(path) as image:
            images = np.asarray(image.convert("L"))
    else:
        images = data.read_idx(path)
    if images.ndim == len(shape):
        images = images[np.newaxis]
    if images.shape[1:] != tuple(shape):
        raise ValueError(f"expected {'x'.join(map(str, shape))} images, got "
                         f"an array of shape {images.shape}")
    if images.dtype.kind == "f":
        if images.min() < 0 or images.max() > 1 or \
                not np.isfinite(images).all():
            raise ValueError("float images must hold values in [0, 1]")
        images = np.rint(images * 255)
    elif images.dtype.kind not in "iub" or images.min() < 0 or \
            images.max() > 255:
        raise ValueError(f"pixels must be bytes 0..255, got dtype "
                         f"{images.dtype}")
    return images.astype(np.uint8)


def light_background(images):
    """Whether ``images`` (n, h, w) are dark ink on a light background
    (their border is light on average) and so need inverting."""
    border = np.concatenate([images[:, 0], images[:, -1],
                             images[:, :, 0], images[:, :, -1]], axis=1)
    return border.mean() > 127
