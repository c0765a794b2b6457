"""Everything that puts messages on the bus: the webhook ingress (and, later, CLI publishers)."""
