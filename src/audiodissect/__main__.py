"""``python -m audiodissect``: the same as the ``audiodissect`` command."""

import sys

from .cli import main

sys.exit(main())
