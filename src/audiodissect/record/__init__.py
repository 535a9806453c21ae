"""Step 0: run the target over the probing set and record one number per (clip, unit).

- :mod:`~audiodissect.record.hooks`: the forward hooks, in one context manager;
- :mod:`~audiodissect.record.activations`: batching clips, running the model, pooling;
- :mod:`~audiodissect.record.stage`: the record stage (sharded, resumable, cached in the run directory).
"""

from .activations import length_batches, module_fingerprint, read_waveforms, record_activations, record_waveforms
from .hooks import POOLS, ActivationRecorder, channel_axis, pool_units, recording
from .stage import RecordStage, write_recording

__all__ = ["POOLS", "ActivationRecorder", "channel_axis", "length_batches", "module_fingerprint",
           "pool_units", "read_waveforms", "record_activations", "record_waveforms", "recording", "RecordStage",
           "write_recording"]
