"""The book's ``mnist_loader``: ``fastnet.mnist_loader``, whose API already
is the book's."""

from ..mnist_loader import load_data, load_data_wrapper, vectorized_result

__all__ = ["load_data", "load_data_wrapper", "vectorized_result"]
