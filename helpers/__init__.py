"""Helper package behind the clothing-classifier notebook series.

The notebooks in ``notebooks/`` tell the story; the modules here do the work:
dataset adapters (``helpers.data``), image loading (``helpers.loading``), the run
and its settings (``helpers.run``, ``helpers.settings``), training
(``helpers.training``, ``python -m helpers.train``), per-layer tables
(``helpers.layer_table``), evaluation and explanations, optimised variants,
figures (``helpers.plots``) and the papermill runner (``helpers.series``).
"""

import os

# TensorFlow's C++ start-up chatter (INFO and WARNING lines) is hidden in every process that
# uses this package; set once here, before anything imports TensorFlow. Your own value wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
