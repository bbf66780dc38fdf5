"""Importers: foreign trained networks as a float ``DelaySNN`` (``snn_delays``: SNN-delays
checkpoints)."""
