"""Singer tap for X (Twitter) API v2 tweet and media engagement metrics."""
