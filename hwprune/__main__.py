"""``python -m hwprune``: the same as the ``hwprune`` console script (a CI job may not have it on PATH)."""

import sys

from hwprune.cli import main

if __name__ == "__main__":  # not when multiprocessing's spawn re-imports it (``hwprune sim -j``)
    sys.exit(main())
