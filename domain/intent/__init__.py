"""Change requests in plain words (incident source `intent`): the request, its parsing into one
typed change, and the diagnosis whose plan is that change. Pure."""
