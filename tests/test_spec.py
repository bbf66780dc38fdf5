"""DeploySpec: the recipe's rules, its metadata codec (old checkpoints' records included), its label;
FineTuning: the defaults of fine-tuning through a grid."""

from pathlib import Path

import pytest

from delaysnn.errors import OptionError
from delaysnn.model.checkpoint import load_checkpoint_and_metadata
from delaysnn.spec import DeploySpec, FineTuning
from delaysnn.training.train import TrainOptions, deployment_settings, quantize_defaults

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("spec, needle", [
    (DeploySpec("binary", 4), "--weight-bits 4 and --binary are two weight grids"),
    (DeploySpec("quaternary"), "weight grid 'quaternary' unknown"),
    (DeploySpec(weight_bits=9), "--weight-bits must be an integer 1..8"),
    (DeploySpec(delay_grid="cap"), "--delay-grid needs --delay-bits"),
    (DeploySpec(delay_bits=0), "--delay-bits must be an integer 1.."),
    (DeploySpec(delay_bits=13), "--delay-bits must be an integer 1.."),
    (DeploySpec(delay_bits=3, delay_grid="log"), "--delay-grid 'log' unknown"),
    (DeploySpec(prune_scope="global"), "--prune-scope needs --prune"),
    (DeploySpec(prune=1.0), "--prune must be a number in [0, 1)"),
    (DeploySpec(prune=-0.1), "--prune must be a number in [0, 1)"),
    (DeploySpec(prune=0.5, prune_scope="row"), "--prune-scope 'row' unknown"),
])
def test_validate_refuses_in_one_line(spec, needle):
    with pytest.raises(OptionError) as err:
        spec.validate()
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_training_rules_and_flags():
    assert DeploySpec(delay_bits=12).validate() == DeploySpec(delay_bits=12)  # quantize takes it (a plain target)
    with pytest.raises(OptionError, match="Loihi 2 delays take at most 6 bits"):
        DeploySpec(delay_bits=7).validate(training=True)
    DeploySpec("ternary", delay_bits=6, prune=0.8, prune_scope="global").validate(training=True)
    with pytest.raises(OptionError, match="--binary and --ternary exclude each other"):
        DeploySpec.from_flags(binary=True, ternary=True)
    with pytest.raises(OptionError, match="--weight-bits 4 and --ternary"):
        DeploySpec.from_flags(4, ternary=True).validate()
    assert DeploySpec.from_flags(None, binary=True).binary and not DeploySpec.from_flags(4).ternary


@pytest.mark.parametrize("spec, meta", [
    (DeploySpec(), {}),
    (DeploySpec(weight_bits=4), {"qat": "4"}),
    (DeploySpec("binary"), {"qat": "binary"}),
    (DeploySpec("ternary", delay_bits=5, delay_grid="cap", prune=0.8, prune_scope="global"),
     {"qat": "ternary", "delay_bits": 5, "delay_grid": "cap", "prune": 0.8, "prune_scope": "global"}),
    (DeploySpec(delay_bits=3, delay_grid="step"), {"delay_bits": 3, "delay_grid": "step"}),
    (DeploySpec(weight_bits=2, prune=0.5, prune_scope="layer"), {"qat": "2", "prune": 0.5, "prune_scope": "layer"}),
])
def test_meta_round_trip(spec, meta):
    assert spec.to_meta() == meta and DeploySpec.from_meta(meta) == spec


def test_meta_of_older_checkpoints():
    # an older record (qat only, or a grid without its mode) and a checkpoint's other keys
    assert DeploySpec.from_meta({"qat": "binary", "task": "synthetic", "test_acc": 0.9}) == DeploySpec("binary")
    assert DeploySpec.from_meta({"delay_bits": 3}).delay_grid == "step"
    assert DeploySpec.from_meta({"prune": 0.8}).prune_scope == "layer"
    for path in sorted(EXAMPLES.glob("*.pt")):  # the shipped checkpoints: float, deployed at 8 bits as before
        _, meta = load_checkpoint_and_metadata(path)
        spec = DeploySpec.from_meta(meta)
        assert spec == DeploySpec() and quantize_defaults(meta) == {}, path
        assert spec.over(DeploySpec()).quantize_kwargs()["weight_bits"] == 8


def test_train_options_speak_the_spec():
    spec = DeploySpec("ternary", delay_bits=5, delay_grid="cap", prune=0.8, prune_scope="global")
    opts = TrainOptions(spec=spec)
    assert (opts.qat_ternary, opts.delay_bits, opts.delay_grid, opts.prune, opts.prune_scope) == (True, 5, "cap", 0.8, "global")
    assert opts.deploy_spec == spec and deployment_settings(opts) == spec.to_meta()
    # the same run spelled with the older keywords: the same fingerprint, so its states resume
    old = TrainOptions(qat_ternary=True, delay_bits=5, delay_grid="cap", prune=0.8, prune_scope="global")
    assert old.fingerprint() == opts.fingerprint() and TrainOptions(spec=DeploySpec()).fingerprint() == TrainOptions().fingerprint()
    with pytest.raises(Exception, match="either as spec= or"):
        TrainOptions(qat_bits=4, spec=spec)


def test_over_resolved_and_label():
    trained = DeploySpec("ternary", delay_bits=3, delay_grid="cap", prune=0.5)
    assert DeploySpec().over(trained) == trained
    # each group the caller sets wins; a mode alone keeps the trained bits
    assert DeploySpec(weight_bits=8).over(trained).weights == "fixed"
    assert DeploySpec(delay_bits=4).over(trained).delay_grid is None
    assert DeploySpec(prune_scope="global").over(trained).prune_scope == "global"
    assert DeploySpec().resolved() == DeploySpec(weight_bits=8, delay_grid="step", prune_scope="layer")
    assert DeploySpec(weight_bits=4, delay_bits=3, prune=0.8).label == "4-bit, 3-bit step delays, 80 % pruned (layer)"
    assert DeploySpec("ternary", delay_bits=3, delay_grid="cap").label == "ternary, 3-bit cap delays"
    assert DeploySpec().label == "8-bit"


@pytest.mark.parametrize("spec, epochs", [
    (DeploySpec("ternary", delay_bits=3), 10), (DeploySpec("binary"), 10), (DeploySpec(weight_bits=4, prune=0.8), 10),
    (DeploySpec(weight_bits=4), 5), (DeploySpec(delay_bits=5), 5),
])
def test_fine_tuning_defaults(spec, epochs):
    got, header = FineTuning().resolve(spec, "m.pt")
    assert got == FineTuning(distill="m.pt", freeze_bn_stats=True, dropout=0.1, learn_delays=True, epochs=epochs)
    assert header.startswith("fine-tuning recipe: distilled from m.pt, BatchNorm statistics frozen, dropout 0.1, "
                             f"positions learning at 10 x lr, {epochs} epochs (defaults for {spec.label};")


def test_fine_tuning_parts_switch_off():
    asked = FineTuning(no_distill=True, freeze_bn_stats=False, dropout=0.3, learn_delays=False, epochs=2)
    got, header = asked.resolve(DeploySpec("ternary"), "m.pt")
    assert (got.distill, got.freeze_bn_stats, got.dropout, got.learn_delays, got.epochs) == (None, False, 0.3, False, 2)
    assert "not distilled, BatchNorm statistics updating, dropout 0.3, positions fixed, 2 epochs (all given" in header
    assert FineTuning(distill="t.pt").resolve(DeploySpec(weight_bits=4), "m.pt")[0].distill == "t.pt"
    assert FineTuning().resolve(DeploySpec(weight_bits=4), "m.pt", no_delays=True)[0].learn_delays is False
    # no grid: plain fine-tuning, as before (nothing but what was given)
    plain, header = FineTuning().resolve(DeploySpec(), "m.pt")
    assert header is None and (plain.distill, plain.freeze_bn_stats, plain.dropout, plain.learn_delays, plain.epochs) == (None, False, None, False, None)
