"""State that outlives one message: the rules' memory (echoes, once-per-chat, budgets) and the
writer's send-once ledger. Each has an embedded backend (in-process memory, a SQLite ledger file)
and a Redis one (STATE_URL) for several replicas; `open_state` picks them. See docs/state.md."""

from worker.state.factory import open_state
from worker.state.ledger import ClaimResult, EntryState, SendLedger, resolve
from worker.state.memory import LocalMemory, SharedMemory
from worker.state.redis_ledger import RedisLedger
from worker.state.redis_memory import RedisMemory
from worker.state.sqlite_ledger import SQLiteLedger

__all__ = [
    "ClaimResult",
    "EntryState",
    "LocalMemory",
    "RedisLedger",
    "RedisMemory",
    "SQLiteLedger",
    "SendLedger",
    "SharedMemory",
    "open_state",
    "resolve",
]
