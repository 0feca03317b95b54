"""Energy Landscape Explorer's library: datasets, energy nets, Langevin samplers, contrastive
divergence training and exact 2D diagnostics. Pure torch + numpy; it never imports Streamlit."""

__version__ = "0.1.0"
