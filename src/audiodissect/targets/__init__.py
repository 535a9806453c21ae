"""Target models to dissect: YAMNet, a demo CNN, Hugging Face classifiers, or your own module."""

from .base import Target, move_to
from .logits import clip_logits
from .registry import NAMES, from_module, load_target

__all__ = ["NAMES", "Target", "clip_logits", "from_module", "load_target", "move_to"]
