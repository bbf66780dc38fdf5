import pytest
import torch

from delaysnn.data.datasets import synthetic_splits
from delaysnn.model import DelaySNN, ModelConfig
from delaysnn.training.train import TrainOptions, evaluate, train


def _model():
    torch.manual_seed(0)
    return DelaySNN(ModelConfig(input_size=16, output_size=4, hidden_size=32, hidden_layers=1, max_delay=17, dropout=0.1))


@pytest.mark.slow
def test_learned_delays_beat_delays_fixed_at_zero():
    tr, te = synthetic_splits(n_train=1024, n_test=256, seed=0)
    learned = _model()
    r1 = train(learned, tr, te, TrainOptions(epochs=6, progress=False))
    fixed = _model()
    fixed.set_delays(0)
    fixed.set_sigma(0.0)
    r0 = train(fixed, tr, te, TrainOptions(epochs=6, learn_delays=False, progress=False))
    assert r1.final_test_acc - r0.final_test_acc >= 0.2, (r1.test_acc, r0.test_acc)
    # training ends with integer delays and hard-delay evaluation
    for syn in learned.synapses:
        assert torch.equal(syn.pos, syn.pos.round()) and float(syn.sig.abs().max()) == 0.0
    assert evaluate(learned, te) == r1.final_test_acc
    # the fixed model kept every delay at 0
    assert all(int(s.delays().max()) == 0 for s in fixed.synapses)


@pytest.mark.slow
def test_sigma_decays_over_first_quarter():
    tr, _ = synthetic_splits(n_train=64, n_test=16)
    model = _model()
    seen = []
    train(model, tr, None, TrainOptions(epochs=8, progress=False), on_epoch=lambda e, r: seen.append(model.sigma))
    assert seen[0] < 8.0 and abs(seen[1] - 0.23) < 1e-4 and seen[-1] == seen[1]


def test_subnormals_are_flushed_while_training_only():
    """Decayed Gaussian kernels hold subnormal taps that slow CPUs several-fold: flushed in training."""
    tr, _ = synthetic_splits(n_train=64, n_test=16)
    tiny = torch.tensor([1e-39])  # subnormal in float32
    during = []
    train(_model(), tr, None, TrainOptions(epochs=1, progress=False), on_epoch=lambda e, r: during.append(float(tiny * 1.0)))
    assert during == [0.0] and float(tiny * 1.0) > 0.0


def test_a_diverged_run_is_refused_before_it_is_saved():
    """Non-finite parameters or BatchNorm statistics would make an unloadable checkpoint."""
    import pytest

    from delaysnn.errors import DelaysnnError

    tr, _ = synthetic_splits(n_train=64, n_test=16)
    model = _model()

    def poison(epoch, result):
        model.hidden[0].bn.running_var[0] = float("inf")

    with pytest.raises(DelaysnnError, match="training diverged: hidden.0.bn.running_var"):
        train(model, tr, None, TrainOptions(epochs=1, progress=False), on_epoch=poison)
