"""What the teaching pages compute: the lesson presets, an update taken apart phase by phase, the
theory page's exact quantities and the Langevin Lab's measured chains."""
