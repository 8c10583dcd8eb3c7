"""Orchestration layer: the loop over state.json, its one stage table, recording, checkpoints, guards and the agent registry."""
