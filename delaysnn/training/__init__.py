"""Training the float model: the public ``train`` (``train``), its options and the checkpoint's
record of a run (``options``), the loop in parts with QAT, pruning and distillation (``trainer``),
run folders, checkpoints and resume (``runs``), and multi-process data parallelism (``distributed``)."""
