"""Parse a Keras-syntax spec and work out what Keras's ``model.summary()`` says.

A spec is the layers of a ``Sequential`` model in Keras call syntax, separated by
``;`` or newlines: ``Embedding(5000, 100); SimpleRNN(128); Dense(1, activation='sigmoid')``.
So that a tutorial's code block can be pasted as it is, ``model.add(...)``,
``Sequential([...])``, ``model = Sequential()``, imports, ``model.summary()``
and ``NAME = <number>`` lines are understood too. The spec is read with ``ast``
and only literals, names defined in it and the known layer and initialiser
calls are accepted: nothing in it is ever executed.

Counts are Keras's (one bias vector per gate; GRU with ``reset_after=True``, its
default, has two), because that is the model the user described; the true
counts of rnntool's own torch modules live in ``rnntool.arch``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from rnntool.errors import RnntoolError

Shape = tuple  # (batch, ...) with None for unknown sizes

RECURRENT = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}  # class -> gates
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}  # tensors of state each returns with return_state
ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "softmax", "elu", "selu", "softplus", "softsign", "swish",
               "exponential")
INITIALIZERS = {  # call name -> (string alias, positional argument names)
    "Zeros": ("zeros", ()), "Ones": ("ones", ()), "Constant": ("constant", ("value",)),
    "RandomNormal": ("random_normal", ("mean", "stddev", "seed")),
    "RandomUniform": ("random_uniform", ("minval", "maxval", "seed")),
    "TruncatedNormal": ("truncated_normal", ("mean", "stddev", "seed")),
    "GlorotUniform": ("glorot_uniform", ("seed",)), "GlorotNormal": ("glorot_normal", ("seed",)),
    "HeUniform": ("he_uniform", ("seed",)), "HeNormal": ("he_normal", ("seed",)),
    "LecunUniform": ("lecun_uniform", ("seed",)), "LecunNormal": ("lecun_normal", ("seed",)),
    "Orthogonal": ("orthogonal", ("gain", "seed")), "Identity": ("identity", ("gain",)),
}
INITIALIZER_ALIASES = {alias for alias, _ in INITIALIZERS.values()} | {"uniform", "normal"}

_IGNORED = {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
            "kernel_constraint", "recurrent_constraint", "bias_constraint", "embeddings_regularizer",
            "embeddings_constraint", "dtype", "trainable", "seed"}
_BASE = {"input_shape": None, "batch_input_shape": None, "batch_size": None, "input_dim": None,
         "input_length": None, "name": None}
_RNN = {"activation": "tanh", "use_bias": True, "kernel_initializer": "glorot_uniform",
        "recurrent_initializer": "orthogonal", "bias_initializer": "zeros", "dropout": 0.0,
        "recurrent_dropout": 0.0, "return_sequences": False, "return_state": False, "go_backwards": False,
        "stateful": False, "unroll": False, "time_major": False}
MAX_SPEC_CHARS = 100_000
BOOLEANS = ("use_bias", "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "unit_forget_bias",
            "reset_after", "mask_zero")
SIGNATURES: dict[str, tuple[tuple[str, ...], dict]] = {
    "Embedding": (("input_dim", "output_dim"), {"embeddings_initializer": "uniform", "mask_zero": False}),
    "SimpleRNN": (("units",), _RNN),
    "LSTM": (("units",), {**_RNN, "recurrent_activation": "sigmoid", "unit_forget_bias": True}),
    "GRU": (("units",), {**_RNN, "recurrent_activation": "sigmoid", "reset_after": True}),
    "Dense": (("units",), {"activation": None, "use_bias": True, "kernel_initializer": "glorot_uniform",
                           "bias_initializer": "zeros"}),
    "Dropout": (("rate",), {"noise_shape": None}),
    "Activation": (("activation",), {}),
    "Flatten": ((), {"data_format": None}),
    "TimeDistributed": (("layer",), {}),
    "Bidirectional": (("layer",), {"merge_mode": "concat", "backward_layer": None}),
    "Input": (("shape",), {"shape": None, "batch_size": None, "batch_shape": None, "name": None}),
    "InputLayer": (("input_shape",), {"input_shape": None, "shape": None, "batch_size": None, "batch_shape": None,
                                      "batch_input_shape": None, "name": None}),
}


def snake_name(cls: str) -> str:
    """Keras's default layer names: SimpleRNN -> simple_rnn, TimeDistributed -> time_distributed."""
    return {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru", "InputLayer": "input_layer"}.get(
        cls, re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower())


@dataclass
class Initializer:
    """A weight initialiser: a Keras alias ('glorot_uniform') and its arguments."""

    kind: str
    args: dict = field(default_factory=dict)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.kind}({inner})" if inner else self.kind


@dataclass
class Layer:
    """One layer of the spec with Keras's name, shapes and parameter count filled in."""

    cls: str
    args: dict
    inner: "Layer | None" = None
    name: str = ""
    input_shape: Shape | None = None
    output_shape: Shape | list = ()
    params: int = 0
    where: str = ""  # the call as written, for error messages

    @property
    def returns_state(self) -> bool:
        rnn = self.recurrent
        return bool(rnn and rnn.args["return_state"])

    @property
    def recurrent(self) -> "Layer | None":
        """The recurrent layer this is or wraps (Bidirectional)."""
        if self.cls in RECURRENT:
            return self
        if self.cls == "Bidirectional":
            return self.inner
        return None


class _Call:
    """A call in the spec (a layer or an initialiser), before it is checked."""

    def __init__(self, name: str, args: list, kwargs: dict, where: str):
        self.name, self.args, self.kwargs, self.where = name, args, kwargs, where


def _func_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # keras.layers.LSTM, tf.keras.initializers.Constant
        return node.attr
    raise RnntoolError(f"cannot read {ast.unparse(node)!r} as a layer or initialiser name")


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b}


def _value(node: ast.expr, names: dict):
    """A literal, a name defined earlier in the spec, simple arithmetic, or a call."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_value(e, names) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand, names)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _value(node.left, names), _value(node.right, names)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            try:
                return _BINOPS[type(node.op)](a, b)
            except ZeroDivisionError:
                raise RnntoolError(f"division by zero in {ast.unparse(node)!r}") from None
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        raise RnntoolError(f"unknown name {node.id!r} in the spec; write the number itself or define it first "
                           f"({node.id} = 100; ...)")
    if isinstance(node, ast.Call):
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise RnntoolError(f"*args and **kwargs are not supported in the spec: {ast.unparse(node)!r}")
        return _Call(_func_name(node.func), [_value(a, names) for a in node.args],
                     {k.arg: _value(k.value, names) for k in node.keywords}, ast.unparse(node))
    raise RnntoolError(f"only numbers, strings, tuples and layer calls can appear in a spec, not {ast.unparse(node)!r}")


def _bind(call: _Call, positional: tuple[str, ...], defaults: dict, extra: dict) -> dict:
    """Keras's argument binding for one call: positionals in order, then keywords."""
    allowed = {**defaults, **extra}
    if len(call.args) > len(positional):
        raise RnntoolError(f"{call.where}: {call.name} takes at most {len(positional)} positional argument"
                           f"{'s' if len(positional) != 1 else ''} ({', '.join(positional) or 'none'})")
    bound = dict(zip(positional, call.args))
    for key, value in call.kwargs.items():
        if key in bound:
            raise RnntoolError(f"{call.where}: {key} is given twice")
        if key not in allowed and key not in positional and key not in _IGNORED:
            raise RnntoolError(f"{call.where}: {call.name} has no argument {key!r}; it takes "
                               f"{', '.join([*positional, *allowed])}")
        bound[key] = value
    missing = [p for p in positional if p not in bound and p not in defaults]
    if missing:
        raise RnntoolError(f"{call.where}: {call.name} needs {', '.join(missing)}")
    return {**allowed, **bound}


def _initializer(value, where: str) -> Initializer:
    if isinstance(value, Initializer):
        return value
    if isinstance(value, str):
        alias = {"glorot_uniform": "glorot_uniform", "uniform": "random_uniform", "normal": "random_normal"}.get(
            value, value)
        if alias in INITIALIZER_ALIASES:
            return Initializer(alias)
    if isinstance(value, _Call) and value.name in INITIALIZERS:
        alias, positional = INITIALIZERS[value.name]
        args = dict(zip(positional, value.args))
        if len(value.args) > len(positional):
            raise RnntoolError(f"{value.where}: too many arguments")
        args.update(value.kwargs)
        unknown = set(args) - set(positional)
        if unknown:
            raise RnntoolError(f"{value.where}: {value.name} has no argument {sorted(unknown)[0]!r}")
        if alias == "constant" and not isinstance(args.get("value", 0), (int, float)):
            raise RnntoolError(f"{value.where}: Constant takes a number (the same value for every weight)")
        for key, v in args.items():
            if key != "seed" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise RnntoolError(f"{value.where}: {key} must be a number, got {v!r}")
            if key == "stddev" and v < 0:
                raise RnntoolError(f"{value.where}: stddev must not be negative")
        return Initializer(alias, args)
    shown = value.where if isinstance(value, _Call) else repr(value)
    raise RnntoolError(f"{where}: unknown initializer {shown}; use one of "
                       f"{', '.join(sorted(INITIALIZER_ALIASES))} or Constant(v), RandomNormal(...), ...")


def _positive_int(value, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RnntoolError(f"{where}: {what} must be a positive whole number, got {value!r}")
    return value


def _shape_tuple(value, what: str, where: str) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise RnntoolError(f"{where}: {what} must be a tuple of sizes such as (10, 5), got {value!r}")
    for v in value:
        if v is not None:
            _positive_int(v, f"every size in {what}", where)
    return tuple(value)


def _layer(call, where: str) -> Layer:
    if not isinstance(call, _Call):
        raise RnntoolError(f"{where}: expected a layer such as SimpleRNN(3), got {call!r}")
    if call.name not in SIGNATURES:
        raise RnntoolError(f"{call.where}: unknown layer {call.name}; rnntool knows "
                           f"{', '.join(k for k in SIGNATURES if k != 'InputLayer')}")
    positional, defaults = SIGNATURES[call.name]
    args = _bind(call, positional, defaults, {} if call.name in ("Input", "InputLayer") else _BASE)
    layer = Layer(call.name, args, where=call.where)
    if call.name in ("TimeDistributed", "Bidirectional"):
        if args.get("layer") is None:
            raise RnntoolError(f"{call.where}: {call.name} wraps a layer, e.g. {call.name}(LSTM(8))")
        layer.inner = _layer(args["layer"], call.where)
        if call.name == "Bidirectional" and layer.inner.cls not in RECURRENT:
            raise RnntoolError(f"{call.where}: Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU), "
                               f"not {layer.inner.cls}")
        if call.name == "TimeDistributed" and layer.inner.cls not in ("Dense", "Dropout", "Activation"):
            raise RnntoolError(f"{call.where}: rnntool runs TimeDistributed(Dense(...)) (and Dropout, Activation), "
                               f"not TimeDistributed({layer.inner.cls})")
        if call.name == "Bidirectional":
            if args["backward_layer"] is not None:
                raise RnntoolError(f"{call.where}: backward_layer is not supported; the backward layer is a copy")
            if args["merge_mode"] not in ("concat", "sum", "mul", "ave", None):
                raise RnntoolError(f"{call.where}: merge_mode must be 'concat', 'sum', 'mul', 'ave' or None")
    initializer_keys = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "embeddings_initializer")
    for key, value in args.items():
        if isinstance(value, _Call) and key not in (*initializer_keys, "layer"):
            raise RnntoolError(f"{call.where}: {key} takes a plain value, not the call {value.where}")
    if args.get("name") is not None and not isinstance(args["name"], str):
        raise RnntoolError(f"{call.where}: name must be a string")
    for key in BOOLEANS:
        if key in args and not isinstance(args[key], bool):
            raise RnntoolError(f"{call.where}: {key} must be True or False, got {args[key]!r}")
    if args.get("time_major"):
        raise RnntoolError(f"{call.where}: time_major=True is not supported; inputs are (batch, timesteps, features)")
    for key in initializer_keys:
        if key in args:
            args[key] = _initializer(args[key], call.where)
    for key in ("activation", "recurrent_activation"):
        if key in args and args[key] is not None and args[key] not in ACTIVATIONS:
            raise RnntoolError(f"{call.where}: unknown activation {args[key]!r}; use one of {', '.join(ACTIVATIONS)}")
    for key in ("units", "input_dim", "output_dim", "input_length", "batch_size"):
        if args.get(key) is not None:
            _positive_int(args[key], key, call.where)
    if call.name == "Dropout" and not (isinstance(args["rate"], (int, float)) and 0 <= args["rate"] < 1):
        raise RnntoolError(f"{call.where}: Dropout rate must be in [0, 1), got {args['rate']!r}")
    for key in ("dropout", "recurrent_dropout"):
        if key in args and not (isinstance(args[key], (int, float)) and 0 <= args[key] < 1):
            raise RnntoolError(f"{call.where}: {key} must be in [0, 1), got {args[key]!r}")
    return layer


def parse(spec: str) -> list[Layer]:
    """The layers of a spec, checked and named but not yet shaped (see ``build``)."""
    source = "\n".join(line.strip() for line in spec.replace("\r", "").split("\n"))
    if len(source) > MAX_SPEC_CHARS:
        raise RnntoolError(f"the spec is {len(source):,} characters long; a spec of layers is at most {MAX_SPEC_CHARS:,}")
    try:
        tree = ast.parse(source, mode="exec")
    except (RecursionError, MemoryError):
        raise RnntoolError("the spec is nested too deeply to read") from None
    except SyntaxError as e:
        raise RnntoolError(f"the spec is not Keras call syntax (line {e.lineno}, column {e.offset}: {e.msg}); "
                           "write layers like \"SimpleRNN(3, input_shape=(2, 10)); Dense(1)\"") from None
    try:
        return _read(tree)
    except RecursionError:
        raise RnntoolError("the spec is nested too deeply to read") from None


def _read(tree: ast.Module) -> list[Layer]:
    names: dict = {"None": None, "True": True, "False": False}
    calls: list = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if isinstance(stmt.value, ast.Call) and _func_name(stmt.value.func) == "Sequential":
                calls += _sequential(stmt.value, names)
                continue
            names[stmt.targets[0].id] = _value(stmt.value, names)
            continue
        if not isinstance(stmt, ast.Expr):
            raise RnntoolError(f"a spec holds layer calls, not {ast.unparse(stmt)!r}")
        node = stmt.value
        if isinstance(node, ast.Call) and _func_name(node.func) == "Sequential":
            calls += _sequential(node, names)
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id != "layers" and node.func.attr not in SIGNATURES:
            if node.func.attr == "add":  # model.add(Layer(...))
                if len(node.args) != 1 or node.keywords:
                    raise RnntoolError(f"{ast.unparse(node)}: model.add takes one layer")
                calls.append(_value(node.args[0], names))
            continue  # model.summary(), model.compile(...): nothing to describe
        calls.append(_value(node, names))
    if not calls:
        raise RnntoolError("the spec has no layers; write e.g. \"SimpleRNN(3, input_shape=(2, 10))\"")
    layers = [_layer(call, getattr(call, "where", repr(call))) for call in calls]
    if layers[0].cls in ("Input", "InputLayer"):
        first = layers.pop(0)
        if not layers:
            raise RnntoolError("the spec has only an Input; add the layers that follow it")
        a = first.args
        full = a.get("batch_shape") or a.get("batch_input_shape")
        per_sample = a.get("shape") if a.get("shape") is not None else a.get("input_shape")
        if full is not None:
            layers[0].input_shape = _shape_tuple(full, "batch_shape", first.where)
        elif per_sample is not None:
            layers[0].input_shape = (a["batch_size"], *_shape_tuple(per_sample, "shape", first.where))
        else:
            raise RnntoolError(f"{first.where}: give the input's shape, e.g. Input(shape=(timesteps, features))")
    elif any(layer.cls in ("Input", "InputLayer") for layer in layers):
        raise RnntoolError("Input(...) can only be the first entry of a spec")
    _name(layers)
    return layers


def _sequential(node: ast.Call, names: dict) -> list:
    if node.keywords or len(node.args) > 1:
        raise RnntoolError(f"{ast.unparse(node)}: Sequential takes one list of layers")
    if not node.args:
        return []
    items = _value(node.args[0], names)
    if not isinstance(items, list):
        raise RnntoolError(f"{ast.unparse(node)}: Sequential takes a list of layers")
    return items


def _name(layers: list[Layer]) -> None:
    """Keras's default names, in construction order (a wrapped layer is made first)."""
    counts: dict[str, int] = {}

    def take(layer: Layer) -> None:
        if layer.inner is not None:
            take(layer.inner)
        if layer.args.get("name"):  # a name of the user's own takes no number from the defaults
            layer.name = layer.args["name"]
            return
        base = snake_name(layer.cls)
        n = counts.get(base, 0)
        counts[base] = n + 1
        layer.name = base if n == 0 else f"{base}_{n}"

    for layer in layers:
        take(layer)


def _declared_input(layer: Layer) -> Shape | None:
    """The input shape (with the batch axis) a layer declares, Keras 2 style."""
    if layer.input_shape is not None:
        return layer.input_shape
    for source in ([layer, layer.inner] if layer.inner is not None else [layer]):
        a, where = source.args, source.where
        if a.get("batch_input_shape") is not None:
            return _shape_tuple(a["batch_input_shape"], "batch_input_shape", where)
        if a.get("input_shape") is not None:
            return (a.get("batch_size"), *_shape_tuple(a["input_shape"], "input_shape", where))
        if source.cls == "Embedding":
            if a.get("input_length") is not None:
                return (a.get("batch_size"), a["input_length"])
        elif a.get("input_dim") is not None:
            if source.recurrent is None:  # Dense(5, input_dim=10): (batch, 10)
                return (a.get("batch_size"), a["input_dim"])
            return (a.get("batch_size"), a.get("input_length"), a["input_dim"])
    return None


def fmt_shape(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(fmt_shape(s) for s in shape) + "]"
    inner = ", ".join("None" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _recurrent_params(layer: Layer, features: int) -> int:
    units, gates = layer.args["units"], RECURRENT[layer.cls]
    weights = gates * units * (features + units)
    if not layer.args["use_bias"]:
        return weights
    biases = gates * units * (2 if layer.cls == "GRU" and layer.args["reset_after"] else 1)
    return weights + biases


def _shape_layer(layer: Layer, shape: Shape | None, index: int) -> None:
    """Fill in the output shape and parameter count of a layer given its input."""
    where = f"layer {index + 1} ({layer.where})"
    cls = layer.cls
    if shape is None and cls != "Embedding":
        hint = "input_shape=(timesteps, features)" if layer.recurrent else "input_shape=(features,)"
        raise RnntoolError(f"{where}: the first layer needs its input size; add {hint}")
    if cls == "Embedding":
        if shape is None:
            shape = (layer.args.get("batch_size"), None)
        if len(shape) != 2:
            raise RnntoolError(f"{where}: Embedding takes (batch, timesteps) token ids, but its input is "
                               f"{fmt_shape(shape)}")
        layer.input_shape = shape
        layer.output_shape = (*shape, layer.args["output_dim"])
        layer.params = layer.args["input_dim"] * layer.args["output_dim"]
        return
    layer.input_shape = shape
    if layer.recurrent is not None:
        rnn = layer.recurrent
        if len(shape) != 3:
            hint = ("; set return_sequences=True on the recurrent layer before it" if len(shape) == 2 else "")
            raise RnntoolError(f"{where}: {rnn.cls} takes 3-D input (batch, timesteps, features), but its input "
                               f"is {fmt_shape(shape)}{hint}")
        if shape[2] is None:
            raise RnntoolError(f"{where}: {rnn.cls} needs a known number of input features")
        units = rnn.args["units"]
        per_direction = _recurrent_params(rnn, shape[2])
        rnn.params, rnn.input_shape = per_direction, shape
        merged = units
        if cls == "Bidirectional":
            mode = layer.args["merge_mode"]
            merged = 2 * units if mode == "concat" else units
            layer.params = 2 * per_direction
        else:
            layer.params = per_direction
        main = (shape[0], shape[1], merged) if rnn.args["return_sequences"] else (shape[0], merged)
        if cls == "Bidirectional" and layer.args["merge_mode"] is None:
            main_shapes = [(*main[:-1], units)] * 2
        else:
            main_shapes = [main]
        states = [(shape[0], units)] * STATES[rnn.cls] * (2 if cls == "Bidirectional" else 1)
        rnn.output_shape = main if cls != "Bidirectional" else (*main[:-1], units)
        if rnn.args["return_state"]:
            layer.output_shape = [*main_shapes, *states]
        else:
            layer.output_shape = main_shapes[0] if len(main_shapes) == 1 else main_shapes
        return
    if cls in ("Dense", "TimeDistributed"):
        dense = layer.inner if cls == "TimeDistributed" else layer
        if cls == "TimeDistributed" and len(shape) < 3:
            raise RnntoolError(f"{where}: TimeDistributed takes (batch, timesteps, ...) input, but its input is "
                               f"{fmt_shape(shape)}; set return_sequences=True on the recurrent layer before it")
        if dense.cls != "Dense":
            layer.output_shape, dense.output_shape, dense.input_shape = shape, shape, shape[:1] + shape[2:]
            return
        if len(shape) < 2 or shape[-1] is None:
            raise RnntoolError(f"{where}: Dense needs a known input size, but its input is {fmt_shape(shape)}")
        units = dense.args["units"]
        dense.params = shape[-1] * units + (units if dense.args["use_bias"] else 0)
        dense.input_shape = shape[:1] + shape[2:] if cls == "TimeDistributed" else shape
        dense.output_shape = (*dense.input_shape[:-1], units)
        layer.params = dense.params
        layer.output_shape = (*shape[:-1], units)
        return
    if cls in ("Dropout", "Activation"):
        layer.output_shape = shape
        return
    if cls == "Flatten":
        size = 1
        for s in shape[1:]:
            size = None if s is None or size is None else size * s
        layer.output_shape = (shape[0], size)
        return
    raise RnntoolError(f"{where}: {cls} cannot be used here")  # pragma: no cover - SIGNATURES guards this


def input_rank(layer: Layer) -> int | None:
    """How many axes (with the batch) a first layer takes, where that is fixed."""
    return 2 if layer.cls == "Embedding" else 3 if layer.recurrent is not None else None


def build(layers: list[Layer], data_shape: Shape | None = None) -> list[Layer]:
    """Shapes and counts for every layer, checking the stack as Keras would. A first
    layer that declares no input shape takes ``data_shape`` (a layer called on data)."""
    shape = _declared_input(layers[0])
    if shape is None and data_shape is not None:
        shape = tuple(data_shape)
    for index, layer in enumerate(layers):
        if index and isinstance(shape, list):
            why = "return_state=True" if layers[index - 1].returns_state else "merge_mode=None"
            raise RnntoolError(f"layer {index + 1} ({layer.where}): the layer before it returns several tensors "
                               f"({why}); in a Sequential spec only the last layer may")
        _shape_layer(layer, shape, index)
        shape = layer.output_shape
    return layers


def summarize(spec: str) -> list[Layer]:
    return build(parse(spec))


def summary_json(layers: list[Layer]) -> dict:
    def shape_json(shape):
        return [shape_json(s) for s in shape] if isinstance(shape, list) else list(shape)

    return {"layers": [{"name": layer.name, "type": layer.cls if layer.inner is None else
                        f"{layer.cls}({layer.inner.cls})", "output_shape": shape_json(layer.output_shape),
                        "params": layer.params} for layer in layers],
            "total_params": sum(layer.params for layer in layers)}


def render(layers: list[Layer], title: str = "sequential") -> str:
    """The table ``model.summary()`` prints (Keras 2's layout, widened to fit)."""
    first = [f"{layer.name} ({layer.cls})" for layer in layers]
    shapes = [fmt_shape(layer.output_shape) for layer in layers]
    w1 = max(29, *(len(s) + 1 for s in first))
    w2 = max(26, *(len(s) + 1 for s in shapes))
    width = w1 + w2 + 10
    row = lambda a, b, c: f"{a:<{w1}}{b:<{w2}}{c}".rstrip()  # noqa: E731
    lines = [f'Model: "{title}"', "_" * width, row("Layer (type)", "Output Shape", "Param #"), "=" * width]
    for i, layer in enumerate(layers):
        lines.append(row(first[i], shapes[i], str(layer.params)))
        lines.append("=" * width if i == len(layers) - 1 else "_" * width)
    total = sum(layer.params for layer in layers)
    lines += [f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", "_" * width]
    return "\n".join(lines) + "\n"
