"""The names of the Playground's views and layers, said once: the sidebar, the URL, the frame route,
the canvas codec and the figures take them from here. No imports: the web server loads this before
any visitor (and before torch)."""

VIEWS = {"energy": "Energy contours", "density": "Density exp(-E)/Z", "surface": "3D energy surface"}
PICTURE_VIEWS = ("energy", "density")  # the views the canvas draws as a picture (the surface is a 3D figure)
LAYERS = {"data": "Data", "negatives": "Negatives", "trails": "Chain trails", "field": "Gradient field"}
