"""The Anthropic Messages API: requests, replies and streams in both directions."""
