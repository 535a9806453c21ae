"""``python -m audiodissect.cli``: the same as the ``audiodissect`` command."""

import sys

from . import main

sys.exit(main())
