"""Training loops of the experiment tier: plain PyTorch, on the CPU, one intra-op thread per run
(the runner, [`kb.reproduce`][kb.reproduce], runs one process per core)."""
