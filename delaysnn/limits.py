"""Sanity limits on every size that drives an allocation, checked before anything is allocated.

These bound what a file or an option may ask delaysnn to allocate; they are not hardware
limits (those live in ``hardware/profiles/*.toml`` and are checked by ``DelayNetwork.validate``,
e.g. Loihi 2's delay limit of 62). Each is far beyond any workload delaysnn targets, so a value
past one is a corrupt or crafted file or a typo, and is refused with a one-line error naming
the field. Standard library only (``delaysnn.ir`` imports it).
"""

from __future__ import annotations

# Delays in steps: 4096 steps is 4 s at SHD's finest usual 1 ms bin (SNN-delays uses 25 steps of
# 10 ms); Loihi 2 itself holds 62. The sim's buffers grow with min(delay, run length).
MAX_DELAY_STEPS = 4096
# Neurons per layer (and inputs): 2**16; SHD networks have 140-700 inputs and 256 neurons.
MAX_NEURONS = 1 << 16
# Synapses (out x in x kernel_count) per layer: 2**26 (a 8192 x 8192 layer; 256 MiB of float32).
MAX_SYNAPSES = 1 << 26
# Hidden layers of a model: deep delay SNNs have 2-4.
MAX_LAYERS = 64
# DCLS kernel elements per synapse (SNN-delays uses 1).
MAX_KERNEL_COUNT = 64
# Time steps of one sample (binned data, random inputs, a run): 65536 steps is 65 s at 1 ms bins.
MAX_STEPS = 1 << 16
# Latest spike time in a Heidelberg-layout file, in seconds: SHD/SSC samples last under 1.5 s;
# a later time is a corrupt file or one storing milliseconds, not seconds.
MAX_EVENT_SECONDS = 60.0
# Bytes of one binned split held in memory (uint8 samples x steps x channels): 4 GiB (SHD train at
# 10 ms bins takes 160 MB).
MAX_INPUT_BYTES = 4 << 30
# Random or synthetic inputs generated for --samples (data sets are capped by their own size).
MAX_GENERATED_SAMPLES = 1 << 16
# Samples simulated at once by simulate / verify / estimate: peak memory follows this, not --samples.
BATCH_SAMPLES = 256
# The JSON header of a .dnet file (scalars and provenance only).
MAX_HEADER_BYTES = 1 << 20

__all__ = [
    "BATCH_SAMPLES",
    "MAX_DELAY_STEPS",
    "MAX_EVENT_SECONDS",
    "MAX_GENERATED_SAMPLES",
    "MAX_HEADER_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_KERNEL_COUNT",
    "MAX_LAYERS",
    "MAX_NEURONS",
    "MAX_STEPS",
    "MAX_SYNAPSES",
]
