"""Every read of Keras' private graph structures (Keras 3 has no public API for them), behind
:func:`walk`: every layer call of any model in graph order, nested models flattened
(``encoder/conv2d``), tensors as *keys* so receptive fields can flow along the steps.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import keras

_KEYS = itertools.count()


@dataclass(frozen=True)
class Step:
    """One call of a leaf layer: shapes with the batch axis (empty: unknown), tensor keys."""

    layer: Any
    path: str
    input_shapes: tuple[tuple, ...]
    output_shapes: tuple[tuple, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    node: Any = field(default=None, repr=False, compare=False)  # the graph node; None if traced

    @property
    def kind(self) -> str:
        return type(self.layer).__name__

    @property
    def output_shape(self) -> tuple | None:
        return self.output_shapes[0] if self.output_shapes else None


class _Scope:
    """Keys of the tensors of one graph or one trace; nested graphs get their own scope."""

    def __init__(self):
        self.keys: dict[int, int] = {}
        self.alive: list = []  # keeps traced tensors alive so their ids are not reused

    def key(self, tensor) -> int:
        if id(tensor) not in self.keys:
            self.alias(tensor, next(_KEYS))
        return self.keys[id(tensor)]

    def alias(self, tensor, key: int) -> None:
        self.keys[id(tensor)] = key
        self.alive.append(tensor)


def graph(model) -> Any:
    """The functional graph that computes ``model``, or None (subclassed, unbuilt Sequential, a plain layer)."""
    from keras.src.models.functional import Functional

    if isinstance(model, keras.Sequential) and type(model).call is keras.Sequential.call:
        return model._functional
    if isinstance(model, Functional) and type(model).call is Functional.call:
        return model
    return None


def input_shape(model) -> tuple | None:
    """The batch shape of a single-input model (from its graph, or what it was built with), else None."""
    functional = graph(model)
    if functional is not None:
        return tuple(functional.inputs[0].shape) if len(functional.inputs) == 1 else None
    shapes = list((getattr(model, "_build_shapes_dict", None) or {}).values())
    if len(shapes) != 1 or not isinstance(shapes[0], tuple | list):
        return None
    shape = tuple(shapes[0])
    return shape if all(d is None or isinstance(d, int) for d in shape) else None


def _sublayers(layer) -> list:
    """The layers a model holds directly (a plain layer's own sublayers, as an LSTM's cell, stay inside it)."""
    if not isinstance(layer, keras.Model):
        return []
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _model_descendants(model) -> list:
    """Every layer inside ``model``, looking inside nested models only, each once."""
    found: dict[int, Any] = {}
    for sub in _sublayers(model):
        for layer in [sub, *_model_descendants(sub)]:
            found.setdefault(id(layer), layer)
    return list(found.values())


def _ordered_nodes(functional) -> list:
    """The graph's nodes, inputs first, in the order of ``model.layers`` (shared layers: by depth)."""
    position = {id(op): i for i, op in enumerate(functional._operations)}
    ranked = [
        (-depth, position[id(node.operation)], node.operation._inbound_nodes.index(node), node)
        for depth, nodes in functional._nodes_by_depth.items()
        for node in nodes
    ]
    return [node for *_, node in sorted(ranked, key=lambda r: r[:3])]


def _shapes(tensors) -> tuple[tuple, ...]:
    """Batch shapes with the batch axis as None, as a graph has them (traces run on one image)."""
    return tuple((None, *tuple(t.shape)[1:]) if len(t.shape) else () for t in tensors)


def _walk_graph(functional, prefix: str, scope: _Scope, steps: list[Step], top: bool) -> None:
    for node in _ordered_nodes(functional):
        op, path = node.operation, prefix + node.operation.name
        ins, outs = list(node.input_tensors), list(node.outputs)
        if node.is_input:  # nested models' inputs are the outer tensors, aliased by the caller
            if top:
                steps.append(Step(op, path, (), _shapes(outs), (), tuple(map(scope.key, outs))))
            continue
        inner = graph(op)
        if inner is not None:
            inner_scope = _Scope()
            for inner_input, outer in zip(inner.inputs, ins, strict=True):
                inner_scope.alias(inner_input, scope.key(outer))
            _walk_graph(inner, path + "/", inner_scope, steps, top=False)
            for outer, inner_output in zip(outs, inner.outputs, strict=True):
                scope.alias(outer, inner_scope.key(inner_output))
            continue
        traced = _trace_node(node, path, scope) if _sublayers(op) else []
        steps.extend(traced)
        if not traced:
            keys_in, keys_out = tuple(map(scope.key, ins)), tuple(map(scope.key, outs))
            steps.append(Step(op, path, _shapes(ins), _shapes(outs), keys_in, keys_out, node))


def _trace_node(node, path: str, scope: _Scope) -> list[Step]:
    """A subclassed model called in a graph, traced on zeros of its input shapes."""
    ins, outs = list(node.input_tensors), list(node.outputs)
    if any(None in t.shape[1:] for t in ins):
        return []
    values = {id(t): keras.ops.zeros((1, *t.shape[1:]), t.dtype) for t in ins}
    args, kwargs = node.arguments.fill_in(values)
    inner = _Scope()
    for t in ins:
        inner.alias(values[id(t)], scope.key(t))
    steps, keys = _trace(node.operation, lambda: node.operation(*args, **kwargs), path, inner)
    if steps:
        for outer, key in zip(outs, keys, strict=False):
            scope.alias(outer, key)
    return steps


@dataclass(eq=False)
class Call:
    """One call of a layer recorded by :func:`recording`: its arguments, result and caller."""

    layer: Any
    parent: Call | None
    args: tuple
    kwargs: dict
    outputs: Any = None
    leaf: bool = True  # no other recorded layer was called inside it

    @property
    def inputs(self) -> Any:  # the first positional argument (a layer's input)
        return self.args[0] if self.args else None


@contextlib.contextmanager
def recording(layers, eager_only: bool = False) -> Iterator[list[Call]]:
    """Record every call of ``layers`` in the block, with its caller (``call`` wrapped)."""
    calls: list[Call] = []
    stack: list[Call] = []

    def wrap(layer, original):
        def call(*args, **kwargs):
            record = Call(layer, stack[-1] if stack else None, args, kwargs)
            stack.append(record)
            try:
                result = original(*args, **kwargs)
            finally:
                stack.pop()
            record.outputs = result
            symbolic = isinstance(next(iter(keras.tree.flatten(result)), None), keras.KerasTensor)
            if not (eager_only and symbolic):
                if record.parent is not None:
                    record.parent.leaf = False
                calls.append(record)
            return result

        return call

    wrapped = []
    try:
        for layer in layers:
            if "call" in vars(layer):  # already wrapped
                continue
            object.__setattr__(layer, "call", wrap(layer, layer.call))
            wrapped.append(layer)
        yield calls
    finally:
        for layer in wrapped:
            object.__delattr__(layer, "call")


def all_layers(model) -> Iterator[Any]:
    """Every layer of ``model``, nested models' layers included, each once, input layers left out."""
    seen: set[int] = set()

    def walk(container):
        for layer in getattr(container, "layers", []):
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            yield layer
            if isinstance(layer, keras.Model):
                yield from walk(layer)

    yield from walk(model)


def _tensors(structure) -> list:
    tensor = lambda t: hasattr(t, "shape") and hasattr(t, "dtype")  # noqa: E731
    return [
        t for t in keras.tree.flatten(structure) if tensor(t) and not isinstance(t, keras.Variable)
    ]


def _trace(layer, run: Callable[[], Any], path: str, scope: _Scope) -> tuple[list[Step], list]:
    """Run ``run()`` (which calls ``layer``): its leaf sublayer calls as steps, and the output keys."""
    with recording(_model_descendants(layer)) as calls:
        outputs = _tensors(run())
    steps = []
    for record in calls:
        if not record.leaf:
            continue
        names, parent = [record.layer.name], record.parent
        while parent is not None:
            names.insert(0, parent.layer.name)
            parent = parent.parent
        ins, outs = _tensors((record.args, record.kwargs)), _tensors(record.outputs)
        name = "/".join([path, *names] if path else names)
        keys_in, keys_out = tuple(map(scope.key, ins)), tuple(map(scope.key, outs))
        steps.append(Step(record.layer, name, _shapes(ins), _shapes(outs), keys_in, keys_out))
    return steps, [scope.key(t) for t in outputs]


def _untraced(layer, path: str) -> list[Step]:
    """Leaf sublayers without shapes or connections, where no call could be traced."""
    steps = []
    for sub in _sublayers(layer):
        name = f"{path}/{sub.name}" if path else sub.name
        steps.extend(_untraced(sub, name) if _sublayers(sub) else [Step(sub, name, (), (), (), ())])
    return steps


def _unique(steps: list[Step]) -> list[Step]:
    """Later calls of a shared layer get ``#2``, ``#3`` after their path."""
    seen: Counter[str] = Counter()
    result = []
    for step in steps:
        seen[step.path] += 1
        if seen[step.path] > 1:
            step = replace(step, path=f"{step.path}#{seen[step.path]}")
        result.append(step)
    return result


def frozen_graph(function) -> Any:
    """A concrete ``tf.function``'s graph with its variables as constants (for TensorFlow's profiler)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(function).graph


def walk(model) -> list[Step]:
    """Every leaf layer call of ``model`` in graph order (subclassed: traced on zeros)."""
    functional = graph(model)
    steps: list[Step] = []
    if functional is not None:
        _walk_graph(functional, "", _Scope(), steps, top=True)
        return _unique(steps)
    if not model.built:
        raise ValueError(f"{model.name}: not built; call model.build(input_shape) or call it once")
    shape = input_shape(model)
    if shape is None or None in shape[1:]:
        return _unique(_untraced(model, ""))
    x = keras.ops.zeros((1, *shape[1:]), keras.config.floatx())
    scope = _Scope()
    source = keras.layers.InputLayer(batch_shape=shape, name="input")
    steps.append(Step(source, "input", (), _shapes([x]), (), (scope.key(x),)))
    try:
        traced, _ = _trace(model, lambda: model(x), "", scope)
    except Exception:  # a call that needs more than one image tensor: list what it holds
        return _unique(_untraced(model, ""))
    return _unique(steps + traced)


def evaluate(model, x, paths: list[str]) -> dict[str, Any]:
    """The outputs of the steps at ``paths`` for ``x``, run step by step (into nested models)."""
    values: dict[int, Any] = {}
    found: dict[str, Any] = {}
    for step in walk(model):
        if step.kind == "InputLayer" and not step.inputs:
            values[step.outputs[0]] = x
            continue
        if step.node is None:
            raise NotImplementedError(f"{step.path}: not in a functional graph, cannot evaluate it")
        known = zip(step.node.input_tensors, step.inputs, strict=True)
        args, kwargs = step.node.arguments.fill_in({id(t): values[k] for t, k in known})
        outputs = keras.tree.flatten(step.layer(*args, **kwargs))
        values.update(zip(step.outputs, outputs, strict=False))
        if step.path in paths:
            found[step.path] = outputs[0]
            if len(found) == len(set(paths)):
                break
    if missing := set(paths) - set(found):
        raise KeyError(f"{model.name}: no layer {sorted(missing)}")
    return found
