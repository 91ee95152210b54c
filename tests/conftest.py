import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _restore_global_random_state():
    """Tests seed the global generators (as seed-era scripts do); put them
    back so no test depends on another's draws."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)
