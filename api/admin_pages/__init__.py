"""Server-rendered admin pages (docs/admin-pages.md, docs/decisions/0030)."""
