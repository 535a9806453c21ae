"""Step 1: one natural-language description per clip (captioners are in :mod:`audiodissect.captioners`)."""

from .stage import DescribeStage, import_descriptions, load_captioner

__all__ = ["DescribeStage", "import_descriptions", "load_captioner"]
