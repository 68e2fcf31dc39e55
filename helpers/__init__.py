"""Helper package behind the clothing-classifier notebook series: the notebooks tell the story,
the modules here do the work (data, loading, runs, training, tables, evaluation, figures).
"""

from helpers import tf_logging

# Hide TensorFlow's C++ start-up chatter before anything imports it (CLOTHING_TF_STARTUP_LOG=1 shows it).
tf_logging.install()

__version__ = "0.1.0"
