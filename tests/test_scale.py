"""Out-of-core: column blocks of memory-mapped activations give the in-memory results with bounded memory."""

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from audiodissect import similarity as S
from audiodissect.arrays import RowSubset, column_blocks, read_columns
from audiodissect.errors import AudioDissectError
from audiodissect.identify.units import identify_units, topk_clip_evidence
from audiodissect.rundir import RunDir
from audiodissect.summarize.topk import top_bottom_clips


def saved(tmp_path, array, name="acts.npy"):
    path = tmp_path / name
    np.save(path, array)
    return np.load(path, mmap_mode="r")


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    acts = rng.normal(size=(90, 37)).astype(np.float32)
    acts[:, 4] = 0.0                                   # dead unit
    acts[:, 5] = rng.integers(0, 3, size=90)           # ties
    ev = rng.normal(size=(90, 6)).astype(np.float32)
    return acts, ev, saved(tmp_path, acts)


def test_read_columns_and_row_subsets(data, monkeypatch):
    from audiodissect import arrays

    acts, _, mm = data
    monkeypatch.setattr(arrays, "RELEASE_BYTES", 7 * 37 * 4)  # several page releases per block
    rows = np.array([80, 3, 3, 41, 0])
    np.testing.assert_array_equal(read_columns(mm, 5, 12), acts[:, 5:12])
    np.testing.assert_array_equal(read_columns(mm, 5, 12, rows=rows), acts[rows, 5:12])
    sub = RowSubset(mm, rows)
    assert sub.shape == (5, 37) and sub.dtype == np.float32 and len(sub) == 5
    np.testing.assert_array_equal(sub[:, 2:9], acts[rows, 2:9])
    np.testing.assert_array_equal(sub[:, [9, 1]], acts[rows][:, [9, 1]])
    np.testing.assert_array_equal(sub[:, 6], acts[rows, 6])
    np.testing.assert_array_equal(np.asarray(sub), acts[rows])
    np.testing.assert_array_equal(read_columns(sub, 0, 3, rows=np.array([4, 0])), acts[[0, 80], 0:3])
    blocks = list(column_blocks(sub, block_units=10))
    assert [b[0] for b in blocks] == [slice(0, 10), slice(10, 20), slice(20, 30), slice(30, 37)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks], axis=1), acts[rows])
    with pytest.raises(AudioDissectError, match="outside"):
        RowSubset(mm, [90])
    with pytest.raises(AudioDissectError, match="block_units"):
        list(column_blocks(mm, block_units=0))


def test_row_subsets_of_a_file_pickle_as_its_name_and_in_memory_ones_as_data(data):
    acts, _, mm = data
    rows = np.array([7, 2, 2, 60])
    on_disk = pickle.dumps(RowSubset(mm, rows))
    assert len(on_disk) < 1000 < acts.nbytes  # the file name and rows, not the 90 x 37 floats
    copy = pickle.loads(on_disk)
    assert isinstance(copy.base, np.memmap) and str(copy.base.filename) == str(mm.filename)
    np.testing.assert_array_equal(np.asarray(copy), acts[rows])
    in_memory = pickle.loads(pickle.dumps(RowSubset(acts, rows)))
    assert not isinstance(in_memory.base, np.memmap)
    np.testing.assert_array_equal(np.asarray(in_memory), acts[rows])


def test_jsonl_lines_convert_numpy_values_paths_and_keys_as_before(tmp_path):
    import dataclasses
    from pathlib import Path

    from audiodissect.cache import _jsonable, read_jsonl, write_jsonl

    @dataclasses.dataclass
    class Point:
        x: np.float32

    records = [{"a": np.float32(0.5), "b": [np.int64(3), Path("x/y")], "c": Point(np.float32(2.0)), 1: "one"},
               {(1, 2): "tuple key", "n": None}]
    write_jsonl(tmp_path / "r.jsonl", records)
    assert read_jsonl(tmp_path / "r.jsonl") == [json.loads(json.dumps(_jsonable(r))) for r in records]
    assert read_jsonl(tmp_path / "r.jsonl")[0] == {"a": 0.5, "b": [3, "x/y"], "c": {"x": 2.0}, "1": "one"}


@pytest.mark.parametrize("name", sorted(S.FUNCTIONS))
def test_similarities_on_memory_maps_equal_in_memory(data, name, monkeypatch):
    from audiodissect import arrays

    acts, ev, mm = data
    monkeypatch.setattr(arrays, "BLOCK_ELEMENTS", 90 * 8)  # read ahead 8 units, computed in chunks of 3
    want = S.FUNCTIONS[name](ev, acts, chunk_size=5)
    torch.testing.assert_close(S.FUNCTIONS[name](ev, mm, chunk_size=3), want, rtol=1e-6, atol=1e-6)
    rows = np.arange(0, 90, 2)
    torch.testing.assert_close(S.FUNCTIONS[name](ev[rows], RowSubset(mm, rows), chunk_size=3),
                               S.FUNCTIONS[name](ev[rows], acts[rows], chunk_size=5), rtol=1e-6, atol=1e-6)


def test_memory_mapped_nan_is_an_error(tmp_path):
    acts = np.ones((20, 9), dtype=np.float32)
    acts[3, 7] = np.nan
    mm = saved(tmp_path, acts)
    with pytest.raises(AudioDissectError, match="activations holds 1 NaN"):
        S.cos(np.ones((20, 2)), mm, chunk_size=2)
    with pytest.raises(AudioDissectError, match="NaN"):
        top_bottom_clips(mm, k=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_top_bottom_clips_match_a_stable_sort(tmp_path, dtype):
    rng = np.random.default_rng(5)
    acts = rng.integers(-3, 4, size=(50, 23)).astype(dtype)
    acts[:, 0] = 0
    if dtype != np.int16:
        acts[7, 1] = -0.0                                  # equal to 0.0: a tie, not smaller
        acts[:, 2] = rng.normal(size=50)
        acts[9, 3], acts[11, 3] = np.inf, -np.inf
    top, bottom = top_bottom_clips(saved(tmp_path, acts), k=6, chunk_units=4)
    cols = acts.T.astype(np.float64)
    np.testing.assert_array_equal(top, np.argsort(-cols, axis=1, kind="stable")[:, :6])
    np.testing.assert_array_equal(bottom, np.argsort(cols, axis=1, kind="stable")[:, :6])


def test_identify_on_lazy_probe_rows_equals_in_memory(tmp_path, data):
    acts, ev, mm = data
    rows = np.arange(1, 90, 3)
    concepts = [f"c{i}" for i in range(ev.shape[1])]
    lazy = identify_units({"tab": ev[rows], "db": ev[rows] * 2}, {"l": RowSubset(mm, rows)}, concepts,
                          similarities=sorted(S.FUNCTIONS), db_scope="topk", top=3)
    whole = identify_units({"tab": ev[rows], "db": ev[rows] * 2}, {"l": acts[rows]}, concepts,
                           similarities=sorted(S.FUNCTIONS), db_scope="topk", top=3)
    assert lazy == whole
    np.testing.assert_array_equal(topk_clip_evidence(ev, mm, k=4, block_units=5),
                                  topk_clip_evidence(ev, acts, k=4))


def test_run_probe_activations_are_lazy_row_subsets(tmp_path):
    run = RunDir(tmp_path / "run")
    acts = np.arange(12, dtype=np.float32).reshape(4, 3)
    run.save_activations("layer", acts)
    layer = RowSubset(run.activations("layer"), [2, 0])
    assert isinstance(run.activations("layer"), np.memmap)
    np.testing.assert_array_equal(layer[:, 1:3], acts[[2, 0], 1:3])


def test_analyses_top_rows_read_row_subsets_of_a_memory_map(data):
    from audiodissect.analyses import top_rows

    acts, _, mm = data
    rows = np.array([5, 80, 3, 41, 0, 17])
    np.testing.assert_array_equal(top_rows(RowSubset(mm, rows), 4), top_rows(acts[rows], 4))
    expected = np.argsort(-acts[rows], axis=0, kind="stable")[:4].T  # ties: the lower row first
    np.testing.assert_array_equal(top_rows(acts[rows], 4), expected)


def test_layer_overview_reads_blocks_and_matches_the_whole_array(tmp_path, monkeypatch):
    from audiodissect import arrays
    from audiodissect.cache import write_jsonl
    from audiodissect.probes.base import ClipInfo
    from audiodissect.record.stage import layer_overview

    monkeypatch.setattr(arrays, "BLOCK_ELEMENTS", 8)  # blocks of 2 units for 4 probe rows
    run = RunDir(tmp_path / "run")
    labels = ["a", "b", "c", "d", "e"]
    write_jsonl(run.path / "clips.jsonl", [ClipInfo(id=f"c{i}", label=label, split="heldout" if i == 4 else "probe")
                                           .to_record() for i, label in enumerate(labels)])
    acts = np.zeros((5, 10), dtype=np.float32)
    acts[:4, 0] = [1, 4, 2, 3]          # unit 0: b, d first
    acts[:4, 1] = [5, 5, 0, 0]          # a tie: the lower row first
    acts[4, :] = 100.0                  # the held-out clip counts nowhere
    acts[2, 9] = 7.0                    # the maximum, in the last block
    run.save_activations("layer", acts)
    text = layer_overview(run, {"layer": 10}, top=2)
    probe = acts[:4]
    assert text.splitlines()[0] == f"layer: 10 units, mean {probe.mean():.3g}, max 7"
    assert text.splitlines()[1:3] == ["  #0: top clips b, d", "  #1: top clips a, b"]
    assert text.splitlines()[-1] == "  ... 2 more units"


CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from audiodissect import arrays
    import audiodissect.similarity._inputs as inputs
    from audiodissect import similarity as S
    from audiodissect.summarize.topk import top_bottom_clips

    def status(field):
        line = next(x for x in open("/proc/self/status") if x.startswith(field + ":"))
        return int(line.split()[1]) * 1024

    arrays.BLOCK_ELEMENTS = 2**19                      # 2 MiB blocks read: the bound to check
    arrays.RELEASE_BYTES = 2**21                       # pages of 2 MiB of rows mapped at most
    inputs.CHUNK_ELEMENTS = 2**18                      # and small working chunks of the similarity
    path, mode = sys.argv[1], sys.argv[2]
    ev = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    mm = np.load(path, mmap_mode="r")
    S.cos(ev[:2], mm[:2, :2]); top_bottom_clips(np.ones((3, 2), np.float32), k=1)   # warm up
    open("/proc/self/clear_refs", "w").write("5")      # peak resident memory := current
    before = status("VmRSS")
    if mode == "blocks":
        S.soft_wpmi(ev, arrays.RowSubset(mm, np.arange(1000)))
        top_bottom_clips(mm, k=5)                      # the whole map: read with pread
        top_bottom_clips(mm[1:], k=5)                  # a view into it: paged, pages released
    else:
        float(np.asarray(mm).sum())                    # reading it whole: the control
    print(json.dumps({"growth": status("VmHWM") - before}))
""")



def test_peak_memory_stays_far_below_a_memory_mapped_array(tmp_path):
    n, u = 1000, 25_000                                   # 100 MB of float32
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, u))
    for lo in range(0, n, 250):
        out[lo:lo + 250] = rng.standard_normal((250, u), dtype=np.float32)
    out.flush()
    del out
    size = n * u * 4

    def growth(mode):
        res = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                             check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])["growth"]

    assert growth("whole") > 0.9 * size                  # the measurement sees a whole read
    assert growth("blocks") < 0.3 * size
