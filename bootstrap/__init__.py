"""The composition root: settings -> store, log, services, read models, process managers,
deadlines, outbox channels and broker. `api/`, `workers/` and the CLI import it; it imports
neither of them."""
