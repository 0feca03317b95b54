"""Pure functions from the library's results to plotly figures and pictures, one module per page."""
