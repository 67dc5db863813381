"""Screen helpers shared by every app (the lowest layer, beside core): see ARCHITECTURE.md."""
