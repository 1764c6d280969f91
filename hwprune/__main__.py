"""``python -m hwprune``: the same as the ``hwprune`` console script (a CI job may not have it on PATH)."""

import sys

from hwprune.cli import main

sys.exit(main())
