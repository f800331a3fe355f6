"""Out to people: HTTP routes, API keys, read queries, OpenAPI, SSE, the dashboard."""
