"""Training the float model: the loop with QAT, pruning and distillation (``train``), run folders,
checkpoints and resume (``runs``), and multi-process data parallelism (``distributed``)."""
