"""The audit trail: one keyed, hash-chained entry per request that touches a tenant's data
(docs/decisions/0026)."""
