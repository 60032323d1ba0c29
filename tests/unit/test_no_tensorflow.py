"""The unit layer imports nothing from TensorFlow (issue 16): that is what keeps it under a minute."""
from __future__ import annotations

import subprocess
import sys

from unit.conftest import UNIT, heavy_modules


def test_the_unit_layer_imports_no_tensorflow(request):
    """Run last in its session (unit/conftest.py orders it): when the session holds only unit tests, whatever
    they and the code they call imported is still in sys.modules; otherwise the layer runs alone in a fresh
    process, where this same test makes that check."""
    if all(UNIT in item.path.parents for item in request.session.items):
        assert heavy_modules() == [], (f"the unit layer imported {', '.join(heavy_modules())}: a test that did is "
                                       "named above; if none is, a test module imports it at its top")
        return
    alone = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(UNIT)],
                           cwd=UNIT.parents[1], capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stdout[-4000:] + alone.stderr[-2000:]
