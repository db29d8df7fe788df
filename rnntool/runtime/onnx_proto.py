"""The few ONNX protobuf messages rnntool's graphs need, written directly.

The ``onnx`` package builds the same bytes, but importing it takes over a second (measured
1.0-1.2 s here), which every ``tag`` or ``classify`` process would pay before its first answer;
onnxruntime itself imports in ~0.16 s. These messages are a handful of fields of the ONNX
schema (onnx/onnx.proto3: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto), encoded in protobuf's wire format; tests/test_engines.py checks that
onnx parses them to what ``onnx.helper`` makes.
"""

from __future__ import annotations

import struct

import numpy as np

FLOAT, INT32, INT64 = 1, 6, 7  # TensorProto.DataType
_DTYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int32): INT32, np.dtype(np.int64): INT64}


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def attribute(name: str, value) -> bytes:
    """AttributeProto: an int, float, string, or a list of ints or of strings."""
    out = _bytes(1, name)
    if isinstance(value, bool) or isinstance(value, int):
        return out + _int(3, int(value)) + _int(20, 2)
    if isinstance(value, float):
        return out + _float(2, value) + _int(20, 1)
    if isinstance(value, str):
        return out + _bytes(4, value) + _int(20, 3)
    if all(isinstance(v, str) for v in value):
        return out + b"".join(_bytes(9, v) for v in value) + _int(20, 8)
    return out + b"".join(_int(8, int(v)) for v in value) + _int(20, 7)


def node(op_type: str, inputs: list[str], outputs: list[str], **attributes) -> bytes:
    """NodeProto (default domain; attributes by name, as onnx.helper orders them)."""
    return (b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
            + _bytes(4, op_type) + b"".join(_bytes(5, attribute(k, v)) for k, v in sorted(attributes.items())))


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto with the values as raw little-endian data."""
    array = np.ascontiguousarray(array)
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, _DTYPES[array.dtype]) + _bytes(8, name)
            + _bytes(9, data))


def value_info(name: str, elem_type: int, shape: list[int | str] | None = None) -> bytes:
    """ValueInfoProto of a tensor: element type and, if given, its dimensions (numbers, or
    names for dimensions that vary)."""
    tensor_type = _int(1, elem_type)
    if shape is not None:
        dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
        tensor_type += _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(nodes: list[bytes], name: str, inputs: list[bytes], outputs: list[bytes], initializers: list[bytes],
          opset: int = 17, ir_version: int = 8, metadata: dict[str, str] | None = None,
          doc: str | None = None) -> bytes:
    """ModelProto holding one graph, for the default operator set ``opset``, with optional
    metadata entries (metadata_props) and a description (doc_string)."""
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, name)
             + b"".join(_bytes(5, t) for t in initializers)
             + b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs))
    return (_int(1, ir_version) + _bytes(2, "rnntool") + (_bytes(6, doc) if doc else b"") + _bytes(7, graph)
            + _bytes(8, _bytes(1, "") + _int(2, opset))
            + b"".join(_bytes(14, _bytes(1, k) + _bytes(2, v)) for k, v in (metadata or {}).items()))
