"""Planning layer: response over a horizon, optimizer and scenarios from kept draws (never refits)."""
