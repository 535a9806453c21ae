"""Pooling inside the hooks: every axis layout, copies that in-place ops cannot change, batched writes."""

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.record.hooks import pool_units, recording


def reference(x: np.ndarray, axis: int, pool: str) -> np.ndarray:
    """numpy pooling of (B, ...) over every axis but 0 and `axis`, shape (B, U)."""
    moved = np.moveaxis(x, axis, 1).reshape(x.shape[0], x.shape[axis], -1)
    return {"mean": moved.mean(axis=2), "max": moved.max(axis=2), "first": moved[:, :, 0]}[pool]


@pytest.mark.parametrize("pool", ["mean", "max", "first"])
@pytest.mark.parametrize("shape,axis", [((3, 4), 1), ((3, 5, 4), 2), ((3, 4, 5), 1), ((2, 3, 4, 5), 3),
                                        ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 2), ((2, 3, 4, 5), -1)])
def test_pool_units_matches_numpy(shape, axis, pool):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = pool_units(torch.from_numpy(x), axis=axis, pool=pool).numpy()
    np.testing.assert_allclose(got, reference(x, axis % len(shape), pool), rtol=1e-6, atol=1e-6)


def test_pool_units_never_returns_a_view():
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    for pool, axis in (("first", 1), ("first", 2), ("mean", 1)):
        pooled = pool_units(x, axis=axis, pool=pool)
        before = pooled.clone()
        x.mul_(0)
        assert torch.equal(pooled, before), (pool, axis)
        x.copy_(torch.arange(24, dtype=torch.float32).reshape(2, 3, 4))
    flat = torch.ones(2, 3)
    pooled = pool_units(flat, axis=1, pool="mean")
    flat.zero_()
    assert pooled.sum() == 6


def test_pool_units_errors():
    with pytest.raises(AudioDissectError, match="batch axis"):
        pool_units(torch.zeros(2, 3), axis=0, pool="mean")
    with pytest.raises(AudioDissectError, match="cannot find units"):
        pool_units(torch.zeros(3), axis=0, pool="mean")
    with pytest.raises(AudioDissectError, match="unknown pooling"):
        pool_units(torch.zeros(2, 3, 4), axis=1, pool="median")


class InPlaceNet(torch.nn.Module):
    """Linear(2, 2) with weights [[1, 0], [0, -1]], then ReLU(inplace=True) overwriting its output."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2, bias=False)
        self.act = torch.nn.ReLU(inplace=True)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))

    def forward(self, x):
        return self.act(self.fc(x))


def test_recorded_values_survive_in_place_ops_and_land_in_their_rows():
    net = InPlaceNet()
    batches = [(np.array([2, 0]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
               (np.array([1]), torch.tensor([[-5.0, -6.0]]))]
    with recording(net, ["fc", "act"], n_rows=3) as rec, torch.inference_mode():
        for rows, x in batches:
            rec.rows = rows
            net(x)
        arrays = rec.arrays  # reading flushes the last pass
    np.testing.assert_array_equal(arrays["fc"], [[3.0, -4.0], [-5.0, 6.0], [1.0, -2.0]])
    np.testing.assert_array_equal(arrays["act"], [[3.0, 0.0], [0.0, 6.0], [1.0, 0.0]])
    assert all(a.dtype == np.float32 for a in arrays.values())


def test_last_pass_is_written_on_exit():
    net = InPlaceNet()
    with recording(net, ["fc"], n_rows=1) as rec, torch.inference_mode():
        rec.rows = [0]
        net(torch.tensor([[1.0, 1.0]]))
    np.testing.assert_array_equal(rec.arrays["fc"], [[1.0, -1.0]])


def test_hook_needs_rows():
    net = InPlaceNet()
    with pytest.raises(RuntimeError, match="set recorder.rows"):
        with recording(net, ["fc"], n_rows=1), torch.inference_mode():
            net(torch.zeros(1, 2))
