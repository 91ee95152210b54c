"""``python -m fastnet``: the same as the ``fastnet`` command."""

import sys

from .launch import main

sys.exit(main())
