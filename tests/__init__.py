"""The test suite. Two ways to run it from the repository root, and both must work:

    python3 -m unittest discover -s tests -v     (the README's command: the whole suite)
    python3 -m unittest tests.test_cli           (one module by name)

Discovery with -s tests makes tests/ the top-level directory and imports each module as a
top-level module (test_cli); by name it is imported as a module of this package
(tests.test_cli). The modules import their shared code as top-level modules (`from helpers
import ...`), which discovery puts on the path; this puts it there for the second way.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
