"""Float model -> integer :class:`~delaysnn.ir.DelayNetwork`: all target arithmetic, once.

Every float-to-integer decision of delaysnn lives in this package (exporters only map fields):
``grids`` (weight and delay grids, shared with QAT; a leaf), ``layer`` (one layer of the float
IR, :mod:`delaysnn.ir.folded`, -> one ``DelayLayer``), ``network`` (the whole model,
``quantize_with_report``), ``report`` (what each step did). ``delaysnn.quantize(model, ...)`` is
:func:`network.quantize_model`.
The integer semantics are those of DESIGN section 4 (``delaysnn.sim`` states them
normatively); the float ones are ``delaysnn.model``'s.

Mapping, per layer ``l`` (``W`` the folded float weights, ``step`` the float value of one
weight-mantissa unit, ``e`` the layer's ``weight_exp``):

1. **BatchNorm folding** (eval running statistics): ``g = gamma / sqrt(var + eps)`` scales row
   ``o`` of the synaptic weights, ``b = beta - g * mean`` becomes a per-neuron bias added to
   ``v`` at every step. The synaptic filter (``du``) is linear and sits before BN in the float
   model, so ``g`` commutes with it and the bias bypasses it, as on Loihi (bias goes to ``v``).
2. **Delays**: DCLS positions are rounded as the float model evaluates them (half to even,
   clamped) and read off the one-hot kernel, so taps of one synapse landing on the same delay
   have already added their weights; a synapse whose taps sit on *different* delays cannot be
   held (one delay per synapse) and is refused. Synapses whose integer weight is 0 get delay 0
   (they carry nothing). Delays above ``max_delay`` (or the profile's) are clipped on request,
   refused otherwise. With ``delay_bits`` B the delays of the synapses that carry a weight are
   then put on the layer's delay grid (:func:`delaysnn.quantization.grids.delay_grid`): ``cap`` clips them to
   ``2**B - 1``, ``step`` keeps their range on a step ``s = ceil(max / (2**B - 1))``; either way
   at most ``2**B`` values, recorded as the layer's ``delay_bits`` and ``delay_step``. An axonal
   (dendritic) float layer, one delay per input (output) neuron, becomes an integer layer of the
   same kind: its vector goes through the same steps, a neuron none of whose synapses carries a
   weight counting as such a synapse.
3. **Weights**: signed ``weight_bits`` fixed point on one per-layer grid,
   ``mantissa = clamp(round(W / step), -2**(b-1), 2**(b-1) - 1)`` with
   ``step = clip / max(2**(b-1) - 1, 1)`` (1 bit holds only {-1, 0}: use binary for +-1);
   ``clip`` is the range in ``{max|W| * f}`` (``f`` in ``CLIP_FRACTIONS``) with the least
   squared error (ties: the widest). Binary (BS4NN / XNOR-Net): ``mantissa = sign(W)``,
   ``step = mean|W|`` over the layer, the scale that minimises ``||W - step * sign(W)||^2``.
   Ternary (TWN, Li et al. 2016): ``delta = 0.7 * mean|W|``, ``mantissa = sign(W) * (|W| > delta)``,
   ``step = mean |W| over |W| > delta``, stored as ``weight_bits = 2``. The same grids are
   :func:`fake_quantize`'s, for QAT (all of them live in :mod:`delaysnn.quantization.grids`).
   **Pruning** (``prune``) comes first: the smallest-|W| folded synapses, per layer or over
   the network (:func:`delaysnn.quantization.grids.prune_masks`), become weight 0 and delay 0, and the
   grid is that of the kept synapses (a binary or ternary scale is not diluted by the zeros).
   Global pruning ranks raw folded magnitudes, so a layer with small weights (the readout,
   which has no BatchNorm gain) loses more: per layer is the default.
4. **Voltage scale**: the integer current is ``u = a << 6`` with ``a`` in units of
   ``step / 2**e``, so ``v_int ~= S * v_float`` with ``S = 64 * 2**e / step``. ``e`` is the
   largest of 0..7 for which a *guaranteed* bound holds (:func:`_exp_fits`): ``u`` never wraps
   (``64 * 2**e * P * max_o sum_i |m_oi|^{+/-} * 4096/(du+1) < 2**23``, ``P`` the largest input
   payload), hidden voltages never saturate on the negative side, the readout voltage stays
   below the readout's reset level, and ``vth`` and the bias are representable. If even ``e=0``
   breaks the bound the report flags ``overflow_risk`` and a warning is issued.
5. **Neurons**: ``dv = round(4096 / tau)``, ``du = round(4096 / synaptic_tau) - 1`` (4095, a
   current cleared each step, without a filter), both clipped to 0..4095. The float LIF fires
   on ``v >= theta``, the integer one on ``v_int > vth << 6``, i.e. ``v_int >= 64 * vth + 1``;
   so ``vth = round((S * theta - 1) / 64)``: the integer threshold ``64 * vth + 1`` is the one
   nearest ``S * theta`` (error at most 32 / S in float units). Bias ``round(S * b)`` is split
   into a 13-bit signed mantissa and the smallest ``bias_exp`` that holds every neuron's.
   The readout gets ``vth=None``; the network's ``readout_scale = 1 / S_readout`` converts its
   integer voltages back to float ones (for the softmax-sum prediction), and its
   ``tail_steps`` (the float model's total right padding) tells ``delaysnn.sim`` how long to
   run so the integer readout spans the float readout's window.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> submodule. Resolved on first use (PEP 562) so that ``.grids`` (imported by
# ``delaysnn.model`` for QAT) loads without ``layer`` and ``network`` and what they import.
_EXPORTS = {
    "CLIP_FRACTIONS": "grids",
    "WeightGrid": "grids",
    "fake_quantize": "grids",
    "weight_grid": "grids",
    "LayerOptions": "layer",
    "decay_for_tau": "layer",
    "input_bits_for": "layer",
    "quantize_layer": "layer",
    "LayerReport": "report",
    "QuantReport": "report",
    "NETX_OPTIONS": "network",
    "QUANTIZER_VERSION": "network",
    "quantize_model": "network",
    "quantize_with_report": "network",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
