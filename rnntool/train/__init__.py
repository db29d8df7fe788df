"""Training loops (torch)."""
