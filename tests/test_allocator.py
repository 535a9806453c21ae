"""glibc's allocator set for large tensors: applied once, by a Dissection, and off on request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GLIBC = sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")

# Resident memory after a 200 MB array is written and freed: glibc's default returns it to the system (a
# freed memory map); tuned, the heap keeps it for the next large tensor.
RETAINED = """
import gc, numpy as np, audiodissect as ad
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
print(ad.tune_allocator())
before = resident()
block = np.ones(50_000_000, dtype=np.float32)
del block
gc.collect()
print((resident() - before) / 2**20)
"""


def _python(code: str, **env: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return out.split()


@pytest.mark.skipif(not GLIBC, reason="the tuning is for Linux with glibc")
def test_tuned_heap_keeps_freed_large_blocks_and_the_default_returns_them():
    tuned, kept = _python(RETAINED)
    assert tuned == "True" and float(kept) > 150
    untuned, kept = _python(RETAINED, AUDIODISSECT_MALLOC_TUNING="0")
    assert untuned == "False" and float(kept) < 50


@pytest.mark.skipif(not GLIBC, reason="the tuning is for Linux with glibc")
def test_a_dissection_tunes_the_allocator_unless_told_not_to(tmp_path):
    code = ("import audiodissect as ad, audiodissect.allocator as a; "
            f"ad.Dissection('demo-cnn', probe='soundbank', out={str(tmp_path / 'run')!r}); print(a._tuned)")
    assert _python(code) == ["True"]
    assert _python(code, AUDIODISSECT_MALLOC_TUNING="off") == ["False"]
