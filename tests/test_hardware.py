"""Hardware profiles: data files with sources, one loader, every problem reported, every violation listed."""

from __future__ import annotations

import numpy as np
import pytest

import hardware
from delaysnn.errors import HardwareLimitError, ProfileError
from tests.factories import NetSpec, random_network, shd_like_network

LOIHI2_LIMITS = {
    "weight_bits": 8,
    "weight_exp_max": 7,
    "max_delay": 62,
    "delay_bits": 6,
    "accumulator_bits": 16,
    "decay_bits": 12,
    "vth_bits": 17,
    "bias_mant_bits": 13,
    "bias_exp_max": 7,
    "graded_spike_bits": 24,
    "neurons_per_core": 8192,
    "synaptic_memory_bytes_per_core": 131072,
    "cores": 128,
}


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_builtin_profiles_load_with_a_source_for_every_number():
    for name in hardware.BUILTIN:
        prof = hardware.load_profile(name)
        assert prof.name == name and prof.origin == f"builtin:{name}"
        for key, q in prof.limits.items():
            assert q.source.strip(), key
    loihi2 = hardware.load_profile("loihi2")
    assert {k: q.value for k, q in loihi2.limits.items()} == LOIHI2_LIMITS
    assert loihi2.limits.neurons_per_core.approximate
    assert loihi2.limits.synaptic_memory_bytes_per_core.approximate
    assert loihi2.limits.accumulator_bits.approximate and "a_buff" in loihi2.limits.accumulator_bits.source
    assert "62" in loihi2.limits.max_delay.source and "netx" in loihi2.limits.max_delay.source
    assert hardware.load_profile("unconstrained").limits.items() == []


def test_every_shipped_file_parses_including_energy_only_profiles():
    for name in hardware.builtin_names():
        prof = hardware.load_profile(name)
        if "energy" in prof.sections:
            assert isinstance(prof.sections["energy"], dict)


def test_user_file_by_path_and_unknown_sections_are_kept(tmp_path):
    path = write(
        tmp_path,
        """
schema = 1
name = "mychip"
description = "a user's chip"
[limits.max_delay]
value = 15
source = "datasheet p. 3"
[energy.synaptic_op]
value = 1.5
unit = "pJ"
source = "datasheet p. 7"
[energy.memory.sram]
value = 2
capacity_bytes = 4096
source = "datasheet p. 8"
""",
    )
    prof = hardware.load_profile(path)
    assert prof.limits.max_delay.value == 15 and prof.limits.weight_bits is None
    assert prof.sections["energy"]["synaptic_op"]["value"] == 1.5
    assert hardware.load_profile(str(path)).origin == str(path)


def test_all_problems_are_reported_together(tmp_path):
    path = write(
        tmp_path,
        """
schema = 2
name = ""
colour = "blue"
[limits.max_delay]
value = -1
source = ""
[limits.max_delays]
value = 3
source = "typo"
[limits.vth_bits]
value = 17
source = "ok"
extra = 1
[energy.synaptic_op]
value = 1.0
""",
    )
    with pytest.raises(ProfileError) as info:
        hardware.load_profile(path)
    msg = str(info.value)
    for needle in (
        "schema",
        "'name'",
        "'colour'",
        "limits.max_delay.value",
        "limits.max_delay.source",
        "unknown limit 'limits.max_delays'",
        "limits.vth_bits: unknown keys ['extra']",
        "energy.synaptic_op.value = 1.0 has no 'source'",
    ):
        assert needle in msg, needle
    assert str(path) in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("arg", "message"),
    [("loihi9", "unknown profile 'loihi9'"), ("/nowhere/chip.toml", "no such profile file")],
)
def test_unknown_names_and_paths(arg, message):
    with pytest.raises(ProfileError, match=message):
        hardware.load_profile(arg)


def test_bad_toml_is_a_profile_error(tmp_path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        hardware.load_profile(write(tmp_path, "schema = = 1"))


def test_violations_list_every_problem_with_layer_and_value():
    net = random_network(NetSpec(sizes=(4, 6, 3), seed=5))
    prof = hardware.load_profile("loihi2")
    assert prof.violations(net) == []
    net.layers[1].delay[:] = 3
    net.layers[1].delay[0, :2] = 88
    net.layers[1].delay[1, 0] = 63
    net.layers[0].weight_bits = 9  # breaks the profile (the IR itself also complains)
    net.input_bits = 25
    problems = prof.violations(net)
    assert (
        "layer 1: 3 synapses have delay > 62 (max 88) [profile loihi2: limits.max_delay]; "
        "retrain with --max-delay 63 or clip them with --clip-delays"
    ) in problems
    assert "layer 0: weight_bits 9 > 8 [profile loihi2: limits.weight_bits]" in problems
    assert "input: graded payloads of 25 bits > 24 [profile loihi2: limits.graded_spike_bits]" in problems
    assert hardware.load_profile("unconstrained").violations(net) == []
    # validate() adds the IR's own problems; check() raises them all at once
    assert any("input_bits 25" in p for p in net.validate(prof))
    with pytest.raises(HardwareLimitError) as info:
        prof.check(net)
    assert "max 88" in str(info.value) and "weight_bits 9" in str(info.value)


def test_limits_of_a_custom_profile_apply(tmp_path):
    path = write(
        tmp_path,
        """
schema = 1
name = "tiny"
[limits.decay_bits]
value = 8
source = "test"
[limits.vth_bits]
value = 4
source = "test"
[limits.bias_mant_bits]
value = 4
source = "test"
[limits.bias_exp_max]
value = 1
source = "test"
[limits.weight_exp_max]
value = 0
source = "test"
[limits.cores]
value = 1
source = "test"
[limits.neurons_per_core]
value = 4
source = "test"
""",
    )
    prof = hardware.load_profile(path)
    net = random_network(NetSpec(sizes=(3, 6, 2), weight_exp=2, seed=8))
    lay = net.layers[0]
    lay.neuron.du, lay.neuron.dv, lay.neuron.vth, lay.neuron.bias_exp = 300, 255, 20, 3
    lay.neuron.bias_mant[:] = [-9, 0, 7, 8, 1, -8]
    got = prof.violations(net)
    assert "layer 0: du=300 outside 0..255 [profile tiny: limits.decay_bits]" in got
    assert not any("dv=255" in p for p in got)
    assert "layer 0: vth=20 outside 0..15 [profile tiny: limits.vth_bits]" in got
    assert "layer 0: 2 bias_mant values outside -8..7 (range [-9, 8]) [profile tiny: limits.bias_mant_bits]" in got
    assert "layer 0: bias_exp=3 > 1 [profile tiny: limits.bias_exp_max]" in got
    assert "layer 0: weight_exp 2 > 0 [profile tiny: limits.weight_exp_max]" in got
    assert "network: needs about 3 cores > 1 (approximate estimate) [profile tiny: limits.cores]" in got


def test_cores_needed_counts_neurons_and_synaptic_memory():
    prof = hardware.load_profile("loihi2")
    net = shd_like_network()  # 140-256-256-20, 8-bit weights, delays 0..24 (5 bits), stored dense
    syn_bits = [layer.weight.size * (8 + 5) for layer in net.layers]
    expected = sum(max(1, int(np.ceil(b / 8 / 131072))) for b in syn_bits)
    assert prof.cores_needed(net) == expected == 3
    assert hardware.load_profile("unconstrained").cores_needed(net) == len(net.layers)


def test_declared_delay_bits_beyond_the_profile_are_a_violation():
    net = random_network(NetSpec(sizes=(4, 6, 3), seed=5))
    net.layers[0].delay_bits = 7
    assert "layer 0: delay_bits 7 > 6 [profile loihi2: limits.delay_bits]; quantize with --delay-bits 6" in hardware.load_profile("loihi2").violations(net)


def test_profiles_are_frozen():
    prof = hardware.load_profile("loihi2")
    with pytest.raises(AttributeError):
        prof.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        prof.sections["energy"] = {}  # type: ignore[index]
