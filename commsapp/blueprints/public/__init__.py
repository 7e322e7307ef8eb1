"""Pages customers open without signing in: unsubscribe links from emails."""
