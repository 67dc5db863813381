"""The demo shop (Cave & Terroir) and `fidele quickstart`: what `make run` shows a newcomer."""
