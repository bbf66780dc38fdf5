import torch

from delaysnn.data.datasets import SyntheticTask, synthetic_splits


def test_synthetic_is_deterministic_by_seed():
    a, _ = synthetic_splits(n_train=64, n_test=16, seed=3)
    b, _ = synthetic_splits(n_train=64, n_test=16, seed=3)
    c, _ = synthetic_splits(n_train=64, n_test=16, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_classes_differ_only_in_timing():
    task = SyntheticTask(noise=0.0)
    data = task.generate(400, seed=0)
    assert data.x.dtype == torch.uint8 and data.x.shape == (400, task.steps, task.channels)
    # every channel fires exactly once per sample whatever the class...
    assert torch.all(data.x.sum(dim=1) == 1)
    # ...and the template window has the same number of spikes at every step for every class
    tmpl = task.templates()
    for c in range(task.classes):
        counts = torch.bincount(torch.as_tensor(tmpl[c]), minlength=task.span)
        assert torch.all(counts == counts[0])
    # but the timing patterns differ between classes
    assert len({tuple(t) for t in tmpl}) == task.classes


def test_noise_keeps_rates_equal_across_classes():
    data = SyntheticTask(noise=2.0).generate(2000, seed=1)
    rates = torch.stack([data.x[data.y == c].float().mean(dim=(0, 1)) for c in range(4)])
    assert (rates.max(dim=0).values - rates.min(dim=0).values).max() < 0.01
