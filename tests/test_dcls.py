"""delaysnn.model.dcls: our DCLS kernels against ``DCLS.construct.modules.Dcls1d``, and the delay
conventions of SNN-delays (tap = P + K//2, delay = K//2 - round_half_even(P))."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from delaysnn.model import DelayedDense
from delaysnn.model.dcls import (
    build_kernel,
    delays_to_positions,
    position_limit,
    positions_to_delays,
    rounded_positions,
)

DCLS = pytest.importorskip("DCLS.construct.modules")


def _reference(n_in: int, n_out: int, k: int, kc: int, version: str, seed: int, sigma: str):
    """A real Dcls1d with random weights, positions (in +-K//2, some exact integers and halves)
    and sigmas (random, or 0 as at evaluation)."""
    gen = torch.Generator().manual_seed(seed)
    conv = DCLS.Dcls1d(n_in, n_out, kernel_count=kc, groups=1, dilated_kernel_size=k, bias=False, version=version)
    lim = k // 2
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        pos = (torch.rand(conv.P.shape, generator=gen) * 2 - 1) * lim
        flat = pos.view(-1)
        flat[:3] = torch.tensor([-lim, lim, 0.0])
        flat[3:6] = torch.tensor([0.5, -1.5, 2.5]).clamp(-lim, lim)
        conv.P.copy_(pos)
        conv.SIG.copy_(torch.rand(conv.SIG.shape, generator=gen) * 3 if sigma == "random" else torch.zeros(conv.SIG.shape))
    return conv


@pytest.mark.parametrize("version", ["gauss", "max"])
@pytest.mark.parametrize("kc", [1, 2])
@pytest.mark.parametrize("sigma", ["random", "zero"])
@pytest.mark.parametrize("k", [5, 25])
def test_kernel_and_conv_equal_dcls(version, kc, sigma, k):
    conv = _reference(6, 4, k, kc, version, seed=k * 10 + kc, sigma=sigma)
    ours = build_kernel(conv.weight, conv.P, conv.SIG, k, version)
    theirs = conv.DCK(conv.weight, conv.P, conv.SIG)
    assert ours.shape == theirs.shape == (4, 6, k)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)

    x = torch.randn(3, 6, 30, generator=torch.Generator().manual_seed(1))
    xp = F.pad(x, (k - 1, (k - 1) // 2))
    torch.testing.assert_close(F.conv1d(xp, ours), conv(xp), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("version", ["gauss", "max"])
def test_gradients_equal_dcls(version):
    """Training uses our kernel: its gradients w.r.t. weight, P and SIG are DCLS's."""
    conv = _reference(5, 3, 9, 2, version, seed=7, sigma="random")
    target = torch.randn(3, 5, 9, generator=torch.Generator().manual_seed(2))
    leaves = [conv.weight, conv.P, conv.SIG]
    (conv.DCK(*leaves) * target).sum().backward()
    theirs = [t.grad.clone() for t in leaves]
    params = [t.detach().clone().requires_grad_(True) for t in leaves]
    (build_kernel(*params, 9, version) * target).sum().backward()
    for mine, ref in zip(params, theirs):
        torch.testing.assert_close(mine.grad, ref, atol=1e-5, rtol=1e-4)


def test_rounded_sigma0_max_kernel_is_one_hot():
    conv = _reference(4, 3, 7, 1, "max", seed=3, sigma="zero")
    pos = rounded_positions(conv.P.detach(), 7)
    kernel = build_kernel(conv.weight, pos, torch.zeros_like(pos), 7, "max")
    torch.testing.assert_close(kernel, conv.DCK(conv.weight, pos, torch.zeros_like(pos)), atol=0, rtol=0)
    taps = (kernel != 0).sum(-1)
    assert torch.equal(taps, torch.ones_like(taps))
    tap = kernel.abs().argmax(-1)
    assert torch.equal(tap, (pos[0, ..., 0] + 3).long())
    torch.testing.assert_close(kernel.gather(-1, tap.unsqueeze(-1))[..., 0], conv.weight[..., 0] / (1 + 1e-7))


def test_unknown_version_is_refused():
    w = torch.ones(1, 1, 1)
    with pytest.raises(ValueError, match="unknown DCLS version"):
        build_kernel(w, torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), 5, "v1")


@pytest.mark.parametrize(
    ("pos", "delay"),
    [
        (-12.0, 24), (12.0, 0), (0.0, 12), (3.0, 9), (-3.0, 15),
        (0.5, 12), (1.5, 10), (2.5, 10), (-0.5, 12), (-1.5, 14),  # half to even, as torch/numpy round
        (0.49, 12), (0.51, 11), (-11.7, 24),
        (12.4, 0), (-12.5, 24), (40.0, 0), (-40.0, 24),  # clamped to +-K//2, as their clamp_parameters
    ],
)
def test_positions_to_delays_snn_delays_convention(pos, delay):
    k = 25
    assert position_limit(k) == 12
    got = positions_to_delays(torch.tensor([pos]), k)
    assert got.dtype == torch.int64 and got.item() == delay
    assert positions_to_delays(delays_to_positions(got, k), k).item() == delay


def test_delays_round_trip_every_tap():
    for k in (1, 3, 7, 25):
        d = torch.arange(k)
        pos = delays_to_positions(d, k)
        assert pos.min() == -(k // 2) and pos.max() == k // 2
        assert torch.equal(positions_to_delays(pos, k), d)


@pytest.mark.parametrize("k", [5, 7])
def test_delay_means_arrives_d_steps_later(k):
    """Left padding K-1 and a one-hot tap at P + K//2: input at step t reaches the output at
    t + d, d = K//2 - P in [0, K-1]; the output is R = (K-1)//2 steps longer than the input."""
    syn = DelayedDense(1, 1, k).eval()
    x = torch.zeros(1, 12, 1)
    x[0, 2, 0] = 1.0
    with torch.no_grad():
        syn.weight.fill_(2.0)
        for d in range(k):
            syn.pos.fill_(float(k // 2 - d))
            assert syn.delays().item() == d
            y = syn(x)[0, :, 0]
            assert y.shape[0] == 12 + (k - 1) // 2
            assert y.nonzero().flatten().tolist() == [2 + d]
            torch.testing.assert_close(y[2 + d], torch.tensor(2.0 / (1 + 1e-7)))
