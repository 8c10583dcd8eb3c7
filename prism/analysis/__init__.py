"""Analysis layer: quantities computed from model results and kept draws (comparison, confidence, audit, facts, checks, response)."""
