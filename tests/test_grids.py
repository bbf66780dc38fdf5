"""delaysnn.quantization.grids: ternary (TWN) weight grid, delay grids, straight-through snapping, pruning masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from delaysnn.errors import UnsupportedError
from delaysnn.quantization.grids import (
    DELAY_BITS_MAX,
    DelayGrid,
    check_delay_bits,
    delay_grid,
    fake_quantize,
    prune_masks,
    snap_delays_ste,
    weight_grid,
)

# --- ternary (TWN) -------------------------------------------------------------------------------


def test_twn_threshold_and_scale_on_a_hand_example():
    w = torch.tensor([0.1, -0.5, 0.9, 0.05, -1.2, 0.3], dtype=torch.float64)
    # mean|W| = 3.05 / 6; delta = 0.7 * that = 0.355833...; kept: 0.5, 0.9, 1.2 -> scale 2.6 / 3
    grid = weight_grid(w, None, ternary=True)
    assert grid.threshold == pytest.approx(0.7 * 3.05 / 6)
    assert grid.step == pytest.approx(2.6 / 3)
    assert grid.mantissa(w).tolist() == [0, -1, 1, 0, -1, 0]
    assert grid.ternary and not grid.binary and grid.clip == float("inf")


def test_ternary_fake_quantize_is_straight_through():
    w = torch.tensor([[0.1, -0.5], [0.9, -1.2]], dtype=torch.float64, requires_grad=True)
    out = fake_quantize(w, None, ternary=True)
    grid = weight_grid(w, None, ternary=True)
    assert torch.equal(out.detach(), grid.mantissa(w.detach()) * grid.step)
    out.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_ternary_row_gain_quantizes_the_folded_weights():
    torch.manual_seed(0)
    w = torch.randn(4, 5, 1, dtype=torch.float64)
    g = torch.tensor([0.5, 2.0, 0.0, 1.0], dtype=torch.float64)
    out = fake_quantize(w, None, False, True, row_gain=g)
    safe = torch.where(g == 0, 1.0, g).view(-1, 1, 1)  # rows with g == 0 enter the grid unscaled
    folded = w * safe
    grid = weight_grid(folded, None, ternary=True)
    expect = grid.mantissa(folded) * grid.step / safe
    assert torch.allclose(out[[0, 1, 3]], expect[[0, 1, 3]])
    assert torch.equal(out[2], w[2])  # g == 0: passed through, as the fixed-point path


def test_binary_and_ternary_together_are_refused():
    with pytest.raises(UnsupportedError, match="binary or ternary"):
        weight_grid(torch.ones(3), None, binary=True, ternary=True)


def test_mask_takes_the_grid_of_the_kept_synapses_and_freezes_the_pruned():
    w = torch.tensor([0.0, 0.0, 0.0, 1.0, -3.0], dtype=torch.float64, requires_grad=True)
    keep = torch.tensor([False, False, False, True, True])
    grid = weight_grid(w, None, binary=True, mask=keep)
    assert grid.step == pytest.approx(2.0)  # mean|W| of the kept two, not of all five
    out = fake_quantize(w, None, True, mask=keep)
    assert out.tolist() == [0.0, 0.0, 0.0, 2.0, -2.0]
    out.sum().backward()
    assert w.grad.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


# --- delay grids ---------------------------------------------------------------------------------


def test_cap_grid_clips_to_the_bit_range():
    d = np.array([0, 3, 7, 8, 24], dtype=np.int32)
    grid = delay_grid(d, 3, "cap")
    assert grid == DelayGrid(bits=3, mode="cap", step=1, cap=7)
    out = grid.snap(d)
    assert out.dtype == np.int32 and out.tolist() == [0, 3, 7, 7, 7]


def test_step_grid_keeps_the_range_on_a_coarser_step():
    d = np.array([0, 3, 7, 10, 24])
    grid = delay_grid(d, 3)  # s = ceil(24 / 7) = 4
    assert (grid.step, grid.cap) == (4, 28)
    assert grid.snap(d).tolist() == [0, 4, 8, 8, 24]  # 10 / 4 = 2.5 rounds half to even


def test_step_grid_respects_a_hardware_limit():
    d = np.array([0, 31, 62])
    grid = delay_grid(d, 3, max_delay=62)  # s = ceil(62 / 7) = 9; 63 would break the limit
    assert (grid.step, grid.cap) == (9, 54)
    assert int(grid.snap(d).max()) <= 62
    assert delay_grid(d, 3, "cap", max_delay=5).cap == 5


def test_step_grid_of_no_delays_is_the_unit_grid():
    assert delay_grid(np.zeros(0, dtype=np.int64), 2) == DelayGrid(bits=2, mode="step", step=1, cap=3)


@settings(max_examples=60, deadline=None)
@given(
    bits=st.integers(1, 6),
    mode=st.sampled_from(["step", "cap"]),
    delays=st.lists(st.integers(0, 200), min_size=1, max_size=60),
)
def test_a_layer_takes_at_most_2_to_the_bits_delay_values(bits, mode, delays):
    d = np.array(delays, dtype=np.int64)
    grid = delay_grid(d, bits, mode)
    out = grid.snap(d)
    assert len(np.unique(out)) <= 2**bits
    assert (out % grid.step == 0).all() and (out // grid.step <= 2**bits - 1).all()
    if mode == "step":  # the step grid loses at most half a step per delay
        assert np.abs(out - d).max() <= grid.step // 2
    assert np.array_equal(grid.snap(torch.from_numpy(d)).numpy(), out)  # numpy and torch agree


def test_snap_delays_ste_forward_snaps_backward_passes():
    grid = delay_grid(np.array([24]), 3)
    d = torch.tensor([0.2, 3.6, 9.9, 23.9], requires_grad=True)
    out = snap_delays_ste(d, grid)
    assert out.tolist() == [0.0, 4.0, 8.0, 24.0]
    (out * torch.arange(4.0)).sum().backward()
    assert d.grad.tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("bits", [0, DELAY_BITS_MAX + 1, 2.5, True, None])
def test_bad_delay_bits_are_refused(bits):
    with pytest.raises(UnsupportedError, match="delay_bits must be an integer"):
        check_delay_bits(bits)


def test_unknown_delay_grid_is_refused():
    with pytest.raises(UnsupportedError, match="delay grid 'fine' unknown"):
        delay_grid(np.array([1]), 3, "fine")


# --- pruning -------------------------------------------------------------------------------------


def test_per_layer_pruning_keeps_the_fraction_of_each_layer():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(10, 20)), rng.normal(size=(4, 10)) * 100]
    masks = prune_masks(weights, 0.8, "layer")
    assert [int(m.sum()) for m in masks] == [40, 8]
    for w, m in zip(weights, masks):
        assert np.abs(w[m]).min() >= np.abs(w[~m]).max()  # the largest magnitudes survive


def test_global_pruning_keeps_the_fraction_of_the_network():
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    b = torch.tensor([[5.0, 6.0, 7.0, 8.0]])
    ma, mb = prune_masks([a, b], 0.5, "global")
    assert isinstance(ma, np.ndarray) and isinstance(mb, torch.Tensor) and mb.dtype == torch.bool
    # the 4 largest of 8 all lie in b; a still keeps its largest synapse
    assert mb.all() and ma.tolist() == [[False, False], [False, True]]


def test_every_layer_keeps_at_least_one_synapse():
    masks = prune_masks([np.ones((3, 3)), np.ones((2, 1))], 0.99, "layer")
    assert [int(m.sum()) for m in masks] == [1, 1]
    assert masks[0].flat[0]  # ties: the lowest row-major index


def test_ties_are_deterministic():
    w = np.array([1.0, -1.0, 1.0, 0.5])
    assert prune_masks([w], 0.5)[0].tolist() == [True, True, False, False]


@pytest.mark.parametrize("fraction,scope,message", [(1.0, "layer", "prune fraction"), (-0.1, "layer", "prune fraction"), (0.5, "row", "prune scope")])
def test_bad_pruning_options_are_refused(fraction, scope, message):
    with pytest.raises(UnsupportedError, match=message):
        prune_masks([np.ones(3)], fraction, scope)
