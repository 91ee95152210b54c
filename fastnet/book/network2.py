"""The book's ``network2.py`` (chapter 3): ``fastnet.network2``, whose API
already is the book's."""

from ..network2 import *  # noqa: F401,F403
from ..network2 import __all__  # noqa: F401
