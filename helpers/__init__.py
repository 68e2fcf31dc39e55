"""Helper package behind the clothing-classifier notebook series.

The notebooks in ``notebooks/`` tell the story; the modules here do the work:
dataset adapters (``helpers.data``), image loading (``helpers.loading``), the run
and its settings (``helpers.run``, ``helpers.settings``), training
(``helpers.training``, ``python -m helpers.train``), per-layer tables
(``helpers.layer_table``), evaluation and explanations, optimised variants,
figures (``helpers.plots``) and the papermill runner (``helpers.series``).
"""

from helpers import tf_logging

# TensorFlow's C++ start-up chatter (INFO and WARNING lines, and on a machine without a CUDA driver
# the failed cuInit) is hidden in every process that uses this package: set once here, before
# anything imports TensorFlow. Your own TF_CPP_MIN_LOG_LEVEL wins; CLOTHING_TF_STARTUP_LOG=1 shows all.
tf_logging.install()

__version__ = "0.1.0"
