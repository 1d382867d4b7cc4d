"""One module per command group of `byob`; each exposes register(sub)."""
