"""Models: the conv VAE backbone and the objectives trained on it (VAE family)."""
