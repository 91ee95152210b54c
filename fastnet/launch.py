"""The ``fastnet`` command's entry point: imports the command line
(NumPy, Numba, the kernels) under a Ctrl-C guard, so that an interrupt
while it loads exits with status 130 and one line, like one later on."""

import sys


def main(argv=None):
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("\nfastnet: interrupted\n")
        return 130
    return run(argv)
