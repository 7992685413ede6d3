"""The coded-title memory: what reviewers decided, reused on every later posting with the same key."""
