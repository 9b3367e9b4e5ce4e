"""Models: the conv VAE (two presets) and the objectives trained on it (VAE family)."""
