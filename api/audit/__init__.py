"""The audit trail's HTTP side: what each route is called in it, the middleware that
writes an entry per request, and the note a request's code fills in on the way."""
