"""Host-side launchers of the place where student code runs (trusted code)."""
