"""Step 1: one natural-language description per clip (captioners are in :mod:`audiodissect.captioners`)."""

from ..captioners.specs import load_captioner
from .stage import DescribeStage, import_descriptions

__all__ = ["DescribeStage", "import_descriptions", "load_captioner"]
