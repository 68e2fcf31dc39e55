"""Fixtures: small generated datasets (DeepFashion tree, Fashion-MNIST idx files, Kaggle CSVs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fixtures import (
    make_clothing_full,
    make_deepfashion_tree,
    make_fashion_mnist,
    make_product_images,
)


@pytest.fixture(autouse=True)
def fresh_keras_names():
    """Layer names restart for every test (``conv2d``, not ``conv2d_53``) when Keras is in use."""
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    yield


@pytest.fixture
def deepfashion_tree(tmp_path: Path) -> Path:
    return make_deepfashion_tree(tmp_path / "deepfashion")


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fashion_mnist(tmp_path_factory.mktemp("fashion-mnist"))


@pytest.fixture
def product_images(tmp_path: Path) -> Path:
    return make_product_images(tmp_path / "product-images")


@pytest.fixture
def clothing_full(tmp_path: Path) -> Path:
    return make_clothing_full(tmp_path / "clothing-full")


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection, or any Keras / kimm download, fails the test."""
    import socket

    import keras

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    import kimm._src.models.base_model as kimm_base

    monkeypatch.setattr(kimm_base.utils, "get_file", refuse)
