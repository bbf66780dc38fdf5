import pytest
import torch

from delaysnn.errors import DataError
from delaysnn.model import DelayedDense, DelaySNN, ModelConfig, leaky_integrator, lif


def test_output_length_adds_right_padding_per_layer(tiny_model):
    x = torch.zeros(2, 10, 6)
    v = tiny_model(x)
    assert v.shape == (2, tiny_model.cfg.output_steps(10), 3)
    assert tiny_model.cfg.output_steps(10) == 10 + 3 * 3


def test_hard_delay_is_a_pure_shift():
    syn = DelayedDense(1, 1, max_delay=7)
    syn.eval()
    with torch.no_grad():
        syn.weight.fill_(2.0)
        syn.pos.fill_(3 - 5)  # delay = 7//2 - pos = 5
    x = torch.zeros(1, 6, 1)
    x[0, 0, 0] = 1.0
    y = syn(x)[0, :, 0]
    assert y.shape[0] == 6 + 3
    assert torch.nonzero(y).flatten().tolist() == [5]
    assert y[5].item() == pytest.approx(2.0, rel=1e-6)
    assert syn.delays().item() == 5


def test_lif_matches_spikingjelly_convention():
    # v = v - v/tau + x; spike when v >= threshold; hard reset to 0
    x = torch.tensor([[[0.6], [0.6], [1.0], [0.0]]])
    s = lif(x, tau=2.0, threshold=1.0, alpha=5.0)
    # t0: v=0.6; t1: 0.3+0.6=0.9; t2: 0.45+1.0=1.45 -> spike, v=0; t3: 0
    assert s.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
    v = leaky_integrator(torch.tensor([[[1.0], [0.0], [0.0]]]), tau=2.0)
    assert v.flatten().tolist() == [1.0, 0.5, 0.25]


def test_surrogate_gradient_flows_to_weights_and_positions():
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5))
    model.train()
    x = (torch.rand(3, 12, 4) < 0.5).float()
    model(x).sum().backward()
    assert model.hidden[0].synapse.weight.grad.abs().sum() > 0
    assert model.hidden[0].synapse.pos.grad.abs().sum() > 0


def test_eval_rounds_positions_without_changing_them(tiny_model):
    pos_before = tiny_model.readout.pos.detach().clone()
    tiny_model(torch.zeros(1, 5, 6))
    assert torch.equal(pos_before, tiny_model.readout.pos)


def test_wrong_input_shape_is_a_clear_error(tiny_model):
    with pytest.raises(DataError, match=r"expected \[batch, time, 6\]"):
        tiny_model(torch.zeros(2, 10, 5))


def test_config_rejects_even_kernel_and_bad_tau():
    with pytest.raises(ValueError, match="odd"):
        ModelConfig(input_size=2, output_size=2, max_delay=24)
    with pytest.raises(ValueError, match="tau"):
        ModelConfig(input_size=2, output_size=2, tau=0.5)


def test_synaptic_filter_changes_dynamics():
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5, synaptic_tau=3.0)
    model = DelaySNN(cfg).eval()
    plain = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5)).eval()
    plain.load_state_dict(model.state_dict())
    x = (torch.rand(2, 10, 4) < 0.5).float() * 3
    assert not torch.allclose(model(x), plain(x))


def test_truncate_layers_reproduces_the_snn_delays_cut():
    torch.manual_seed(0)
    base = dict(input_size=4, output_size=2, hidden_size=8, hidden_layers=2, max_delay=5)
    cut = DelaySNN(ModelConfig(**base, truncate_layers=True)).eval()
    full = DelaySNN(ModelConfig(**base)).eval()
    full.load_state_dict(cut.state_dict())
    x = (torch.rand(2, 10, 4) < 0.5).float() * 2
    v_cut, s_cut = cut.forward_trace(x)
    v_full, s_full = full.forward_trace(x)
    assert v_cut.shape == v_full.shape == (2, 10 + 3 * 2, 2)
    assert s_cut[0].shape[1] == 12 and s_full[0].shape[1] == 16
    # identical up to the first layer's cut, where SNN-delays stops feeding spikes forward
    assert torch.equal(s_cut[0], s_full[0][:, :12])
    assert torch.allclose(v_cut[:, :12], v_full[:, :12])


def test_qat_kernel_lies_on_the_deployed_grid():
    from delaysnn.model.fold import bn_fold
    from delaysnn.quantization import weight_grid

    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5)).eval()
    model.set_qat(3)
    layer = model.hidden[0]
    gain = bn_fold(layer)[0]
    w = layer.synapse.effective_weight(gain.float()).double() * gain[:, None, None]
    grid = weight_grid((layer.synapse.weight.double() * gain[:, None, None]).squeeze(-1), 3)
    m = w.squeeze(-1) / grid.step
    assert torch.allclose(m, m.round(), atol=1e-4) and m.abs().max() <= 4


def test_prune_mask_holds_weights_and_gradients_at_zero():
    torch.manual_seed(0)
    model = DelaySNN(ModelConfig(input_size=4, output_size=2, hidden_size=8, hidden_layers=1, max_delay=5))
    masks = [torch.rand(s.out_features, s.in_features) < 0.5 for s in model.synapses]
    model.set_prune_masks(masks)
    model.train()
    model((torch.rand(3, 12, 4) < 0.5).float()).sum().backward()
    for syn, keep in zip(model.synapses, masks):
        assert (syn.weight[..., 0][~keep] == 0).all() and (syn.weight.grad[..., 0][~keep] == 0).all()
        assert syn.weight.grad[..., 0][keep].abs().sum() > 0
    with pytest.raises(ValueError, match="prune masks"):
        model.set_prune_masks(masks[:1])


def test_delay_qat_shifts_by_the_snapped_delay():
    syn = DelayedDense(1, 2, max_delay=9)
    syn.eval()
    with torch.no_grad():
        syn.weight.fill_(1.0)
        syn.pos.copy_(torch.tensor([4 - 8.0, 4 - 5.0]).view(1, 2, 1, 1))  # delays 8 and 5
    syn.delay_qat = (2, "step")  # 8 on 2 bits: step 3, grid {0, 3, 6} within the kernel's 0..8
    x = torch.zeros(1, 12, 1)
    x[0, 0, 0] = 1.0
    y = syn(x)[0]
    assert torch.nonzero(y[:, 0]).flatten().tolist() == [6] and torch.nonzero(y[:, 1]).flatten().tolist() == [6]
    assert syn.delays().flatten().tolist() == [8, 5]  # the positions themselves are not moved
