"""Automations: a tenant's webhook subscriptions, and the signed deliveries the outbox
sends them (channel `webhook`)."""
