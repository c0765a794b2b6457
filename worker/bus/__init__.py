"""The message bus: one small interface, two transports (RabbitMQ and embedded in-process).

Producers publish `Message`s and get back only after the broker confirmed them; consumers get
`Delivery`s and settle them through the dispatcher (return = ack, `Requeue` = put back,
any other exception = reject, which dead-letters). See `interface.py`.
"""

from worker.bus.interface import Bus, Consumer, Delivery, Handler, Message, Requeue
from worker.bus.topology import Topology, build_topology, shard_of

__all__ = [
    "Bus",
    "Consumer",
    "Delivery",
    "Handler",
    "Message",
    "Requeue",
    "Topology",
    "build_topology",
    "shard_of",
]
