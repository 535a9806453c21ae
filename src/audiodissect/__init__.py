"""audiodissect: explain what the hidden units of audio neural networks respond to.

An implementation of Audio Network Dissection (AND, Wu, Lin and Weng, ICML 2024)
and beyond: record unit activations over a probing set, name each unit's concept,
summarise what its most- and least-activating clips share, calibrate the
summary, extract open-vocabulary concepts, prune units to forget a concept,
score every explanation, and report it all.
"""

__version__ = "0.1.0"

from .errors import AudioDissectError

__all__ = ["AudioDissectError", "__version__"]
