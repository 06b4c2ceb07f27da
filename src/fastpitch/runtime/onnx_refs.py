"""The files an ONNX model reads its weights from (external data), found without the `onnx` package.

An ONNX tensor may keep its bytes in another file, named by a `location` relative to the model. ONNX Runtime
1.32 refuses locations that lead out of the model's folder, but older versions that fastpitch accepts do not,
and a downloaded voice must not make fastpitch read another file of the machine whatever runtime is installed:
the runtime lists every location with this reader and refuses the model before ONNX Runtime sees it.

The reader walks the protobuf wire format along the few ONNX messages that can hold a tensor (the schema in
onnx/onnx.proto): model → graph, training info and functions → nodes → attributes → tensors, subgraphs and sparse tensors.
"""

from __future__ import annotations

from collections.abc import Iterator

# field numbers (onnx.proto) of the messages that lead to a TensorProto, and what each field holds
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_FUNCTION = {7: "node"}
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_TENSOR_EXTERNAL_DATA = 13
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_MAX_DEPTH = 64  # nested subgraphs; protobuf's own default recursion limit is 100


class OnnxFormatError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise OnnxFormatError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(field number, bytes) of each length-delimited field of one message; other wire types are skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise OnnxFormatError("a field runs past the end of its message")
            yield number, data[pos : pos + length]
            pos += length
        else:
            raise OnnxFormatError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise OnnxFormatError("a field runs past the end of its message")


_KINDS = {
    "graph": _GRAPH,
    "function": _FUNCTION,
    "node": _NODE,
    "attribute": _ATTRIBUTE,
    "sparse": _SPARSE,
    "training": _TRAINING,
}


def _walk(data: memoryview, kind: str, depth: int, found: list[dict[str, str]]) -> None:
    if depth > _MAX_DEPTH:
        raise OnnxFormatError("subgraphs nested too deeply")
    if kind == "tensor":
        ref: dict[str, str] = {}
        for number, value in _fields(data):
            if number == _TENSOR_EXTERNAL_DATA:
                entry = dict(_fields(value))
                key = bytes(entry.get(_ENTRY_KEY, b"")).decode("utf-8", "replace")
                ref[key] = bytes(entry.get(_ENTRY_VALUE, b"")).decode("utf-8", "replace")
        if "location" in ref:
            found.append(ref)
        return
    schema = _MODEL if kind == "model" else _KINDS[kind]
    for number, value in _fields(data):
        child = schema.get(number)
        if child is not None:
            _walk(value, child, depth + 1, found)


def external_data(model: bytes) -> list[tuple[str, int, int | None]]:
    """(location, offset, length) of every tensor in the serialized ONNX model `model` that keeps its data in
    another file, in the order met (length None: to the end of the file); `OnnxFormatError` if the bytes are
    not a protobuf message or a number is not one."""
    found: list[dict[str, str]] = []
    _walk(memoryview(model), "model", 0, found)
    try:
        return [
            (ref["location"], int(ref.get("offset", 0)), int(ref["length"]) if "length" in ref else None)
            for ref in found
        ]
    except ValueError as e:
        raise OnnxFormatError(f"an external data offset or length is not a number: {e}") from None
