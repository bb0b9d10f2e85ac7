"""``python -m lpe_nb``: see :mod:`lpe_nb.cli`."""

import sys

from lpe_nb.cli import main

if __name__ == "__main__":
    sys.exit(main())
