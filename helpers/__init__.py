"""Helper package behind the clothing-classifier notebook series.

The notebooks in ``notebooks/`` tell the story; the modules here do the work:
dataset adapters (``helpers.data``), the run folder (``helpers.paths``), run
settings and profiles (``helpers.config``), figures (``helpers.plots``) and the
papermill runner (``helpers.series``).
"""

__version__ = "0.1.0"
