"""State that outlives one message: the rules' memory (echoes, once-per-chat, budgets) and,
with issue 5, the writer's send-once ledger. Each has an in-process backend and a Redis one
(STATE_URL) for several replicas."""

from worker.state.memory import LocalMemory, SharedMemory

__all__ = ["LocalMemory", "SharedMemory"]
