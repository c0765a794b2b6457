"""The writer: Plans off `<ns>.writer.<n>`, their steps run in order against Texter, once.

`steps` maps each step onto the Texter client (or an external HTTP call, `http_step`),
`outcome` sorts every failure into transient / permanent / in doubt, `once` wraps each step in
the send-once ledger and the echo memory (retried in place by `guarded` while they are down),
and `consumer` runs Plans, parks the rest of a Plan on a delay tier after a transient failure,
and dead-letters what cannot be done.
"""
