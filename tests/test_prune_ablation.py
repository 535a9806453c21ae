"""Ablation by hooks and by zeroed weights: exact outputs, errors, hook removal."""

import copy

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.prune.ablation import ablate, group_units, zero_units_
from prune_fixtures import HELDOUT_X, TwoClassNet, reference_logits


class ConvNet(torch.nn.Module):
    """(B, 2, T) -> conv (B, 4, T) -> ReLU -> mean over T -> fc (B, 3) -> ReLU -> out (B, 2)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(2, 4, kernel_size=3, padding=1)
        self.fc = torch.nn.Linear(4, 3)
        self.out = torch.nn.Linear(3, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x)).mean(dim=2)
        return self.out(torch.relu(self.fc(h)))


def test_group_units_sorts_and_deduplicates():
    assert group_units(["a.b#3", "c#0", "a.b#1", "a.b#3"]) == {"a.b": [1, 3], "c": [0]}


def test_ablating_a_hidden_linear_unit_gives_exact_logits():
    net = TwoClassNet()
    x = torch.tensor(HELDOUT_X, dtype=torch.float32)
    with ablate(net, ["hidden#0", "hidden#2"]) as grouped:
        out = net(x).detach().numpy()
    assert grouped == {"hidden": [0, 2]}
    np.testing.assert_allclose(out, reference_logits(HELDOUT_X, [0, 2]), atol=1e-6)
    # removed afterwards: the original logits come back
    np.testing.assert_allclose(net(x).detach().numpy(), reference_logits(HELDOUT_X), atol=1e-6)
    assert not net.hidden._forward_hooks


def test_ablating_conv_channels_zeroes_axis_1():
    net = ConvNet()
    x = torch.randn(5, 2, 7)
    with ablate(net, ["conv#1", "conv#3"]):
        h = net.conv(x)
    reference = net.conv(x)
    assert torch.all(h[:, [1, 3]] == 0)
    torch.testing.assert_close(h[:, [0, 2]], reference[:, [0, 2]])
    assert torch.all(reference[:, [1, 3]] != 0)


def test_hooks_and_zeroed_weights_agree_on_linear_and_conv():
    net = ConvNet()
    x = torch.randn(6, 2, 9)
    units = ["conv#0", "conv#2", "fc#1"]
    with ablate(net, units):
        hooked = net(x)
    pruned = zero_units_(copy.deepcopy(net), units)
    torch.testing.assert_close(pruned(x), hooked)
    # the copy is edited, the original is not
    assert torch.all(pruned.conv.weight[[0, 2]] == 0) and torch.all(pruned.conv.bias[[0, 2]] == 0)
    assert torch.all(pruned.fc.weight[1] == 0) and pruned.fc.bias[1] == 0
    assert torch.any(net.conv.weight[0] != 0)
    assert not torch.allclose(net(x), hooked)


def test_unknown_layer_lists_closest_names():
    with pytest.raises(AudioDissectError) as err:
        with ablate(TwoClassNet(), ["hiden#0"]):
            pass
    assert "hiden" in str(err.value) and "hidden" in str(err.value)


def test_index_out_of_range_is_an_error():
    with pytest.raises(AudioDissectError, match="has 3 units"):
        with ablate(TwoClassNet(), ["hidden#3"]):
            pass
    with pytest.raises(AudioDissectError, match="has 4 units"):
        zero_units_(ConvNet(), ["conv#4"])


def test_out_of_range_on_a_module_of_unknown_size_fails_at_forward_and_removes_hooks():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    with pytest.raises(AudioDissectError, match="has 3 units"):
        with ablate(net, ["1#5"]):
            net(torch.ones(1, 2))
    assert not net[1]._forward_hooks
    with pytest.raises(AudioDissectError, match="cannot zero the weights"):
        zero_units_(net, ["1#0"])


def test_hooks_removed_after_an_error_in_the_block():
    net = TwoClassNet()
    with pytest.raises(RuntimeError):
        with ablate(net, ["hidden#1"]):
            raise RuntimeError("boom")
    assert not net.hidden._forward_hooks


def test_empty_unit_list_changes_nothing():
    net = TwoClassNet()
    x = torch.tensor(HELDOUT_X, dtype=torch.float32)
    with ablate(net, []):
        np.testing.assert_allclose(net(x).detach().numpy(), reference_logits(HELDOUT_X), atol=1e-6)
