"""The webhook ingress: POST /webhooks/texter → authenticated, checked, confirmed on the bus.

`auth` and `envelope` are pure (no I/O) and table-tested; `app` is the aiohttp layer on top.
"""
