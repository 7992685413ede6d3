"""Storage: every SQL statement of jobclass (engines, schema, postings, predictions, runs, registry, labels)."""
