"""Test session setup shared by every test tree.

pytest (importlib mode) names a test file by its path, so ``gateway/tests/unit/test_x.py``
becomes ``gateway.tests.unit.test_x``, and pytest fills in missing parents with empty
placeholder modules, which would shadow the real ``gateway`` package. Importing the real
package first keeps it in ``sys.modules``.
"""

import gateway  # noqa: F401
