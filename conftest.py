"""Root conftest: every pytest run (unit tests and nbmake) uses the quick profile by default."""

import os

os.environ.setdefault("CLOTHING_PROFILE", "quick")
