"""Serialized tf.Examples from Arrow columns, a whole block at a time, in protobuf's wire format.

The bytes are those of `tf.train.Example.SerializeToString(deterministic=True)`: features in name
order, each a one-value list of its column's type, or an empty list of that type for an empty
cell, or an empty Feature for a column without any value in any file. ExampleGen assigns
splits by a hash of exactly these bytes, as TFX's ExampleGen does.

Every length, tag and value is computed for all rows at once with numpy and Arrow's compute
kernels: no Python object per row. The wire format, for one feature of one row:

    Features field 1 (a map entry):  0a <len> [ 0a <len> name  12 <len> Feature ]
    Feature: bytes_list = 1, float_list = 2, int64_list = 3:  <tag> <len> [ 0a <len> values ]

with <len> a varint. `tests/test_example_gen.py` checks the bytes against protobuf's on edge
cases (empty cells, negative and large integers, long and non-ASCII strings).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT, FLOAT, STRING, UNKNOWN = "int", "float", "string", "unknown"  # a column's type, as tfx_bsl's
_LIST_TAG = {STRING: 0x0A, FLOAT: 0x12, INT: 0x1A}  # the Feature field of each list type


def varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes of the varint of each uint64 value (1 to 10)."""
    values = values.astype(np.uint64, copy=False)
    sizes = np.ones(len(values), dtype=np.int64)
    top = values.max() if len(values) else 0
    for shift in range(7, 64, 7):
        limit = np.uint64(1) << np.uint64(shift)
        if top < limit:
            break
        sizes += values >= limit
    return sizes


def varints(values: np.ndarray) -> pa.BinaryArray:
    """The varint of each uint64 value (an int64 is its two's complement, as protobuf writes it)."""
    values = values.astype(np.uint64, copy=False)
    sizes = varint_sizes(values)
    width = int(sizes.max()) if len(sizes) else 1
    if width == 1:  # the usual case of lengths: one byte each
        return _binary(values.astype(np.uint8), sizes)
    shifts = np.arange(width, dtype=np.uint64) * np.uint64(7)
    groups = ((values[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    position = np.arange(width)
    groups |= np.where(position < sizes[:, None] - 1, 0x80, 0).astype(np.uint8)  # continuation bits
    data = groups[position < sizes[:, None]]  # row by row, each row's first `size` bytes
    return _binary(data, sizes)


def _binary(data: np.ndarray, sizes: np.ndarray) -> pa.BinaryArray:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.BinaryArray.from_buffers(pa.binary(), len(sizes), [None, pa.py_buffer(offsets),
                                                               pa.py_buffer(np.ascontiguousarray(data))])


def _varint(n: int) -> bytes:
    return varints(np.array([n], dtype=np.uint64))[0].as_py()


def _field(tag: int, body: pa.Array, size: np.ndarray) -> list:
    """The pieces of a length-delimited field around `body` (whose lengths are `size`)."""
    return [pa.scalar(bytes([tag])), varints(size), body]


def _join(pieces: list) -> pa.BinaryArray:
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b""))
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def values_of(column: pa.Array, kind: str) -> pa.Array:
    """A column of CSV cells (strings, null when empty) as the typed values its examples hold."""
    if kind == STRING:
        return column.cast(pa.binary())
    target = pa.int64() if kind == INT else pa.float32()
    return pc.cast(pc.utf8_trim_whitespace(column), target)


def _list_bodies(values: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    """Per row: the bytes of its one-value list message (empty for a null value), and their size."""
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    if kind == FLOAT:  # packed: 0a 04 <4 bytes, little-endian>
        raw = values.fill_null(0).to_numpy().astype("<f4").view(np.uint8).reshape(-1, 4)
        data = np.empty((len(values), 6), dtype=np.uint8)
        data[:, :2] = (0x0A, 0x04)
        data[:, 2:] = raw
        sizes = np.where(valid, 6, 0)
        return _binary(data[valid], sizes), sizes
    if kind == INT:  # packed: 0a <len> <varint>
        numbers = values.fill_null(0).to_numpy().astype(np.int64).view(np.uint64)
        size = varint_sizes(numbers)
        body = _join([pa.scalar(b"\x0a"), varints(size), varints(numbers)])
        sizes = np.where(valid, 2 + size, 0)
        return pc.if_else(values.is_valid(), body, pa.scalar(b"")), sizes
    # bytes: 0a <len> <value>
    size = pc.binary_length(values).fill_null(0).to_numpy().astype(np.int64)
    body = _join([pa.scalar(b"\x0a"), varints(size), values.fill_null(b"")])
    sizes = np.where(valid, 1 + varint_sizes(size) + size, 0)
    return pc.if_else(values.is_valid(), body, pa.scalar(b"")), sizes


def feature_entries(name: str, kind: str, values: pa.Array) -> pa.BinaryArray:
    """Per row, the Features map entry (field 1 of Features, tag and length included) of `name`."""
    n = len(values)
    key = b"\x0a" + _varint(len(name.encode())) + name.encode()
    if kind == UNKNOWN:  # an empty Feature
        entry = key + b"\x12\x00"
        return pa.array([b"\x0a" + _varint(len(entry)) + entry] * n,
                        pa.binary()) if n else pa.array([], pa.binary())
    body, body_size = _list_bodies(values, kind)
    feature = _join(_field(_LIST_TAG[kind], body, body_size))
    feature_size = 1 + varint_sizes(body_size) + body_size
    entry_size = len(key) + 1 + varint_sizes(feature_size) + feature_size
    return _join([pa.scalar(b"\x0a"), varints(entry_size), pa.scalar(key + b"\x12"), varints(feature_size),
                  feature])


def serialize_examples(names: list[str], kinds: list[str], columns: list[pa.Array]) -> pa.BinaryArray:
    """Canonical serialized tf.Examples of a block: one feature per column, typed as `kinds` says,
    from columns of CSV cells (strings, null for an empty cell)."""
    return serialize_values(names, kinds, typed_values(kinds, columns))


def typed_values(kinds: list[str], columns: list[pa.Array]) -> list[pa.Array]:
    """`values_of` each column (a column of UNKNOWN type as it is: all null)."""
    return [values_of(column, kind) if kind != UNKNOWN else column for kind, column in zip(kinds, columns)]


def serialize_values(names: list[str], kinds: list[str], values: list[pa.Array]) -> pa.BinaryArray:
    """`serialize_examples` of columns already typed (`typed_values`)."""
    order = sorted(range(len(names)), key=lambda i: names[i])  # protobuf's deterministic map order
    entries = [feature_entries(names[i], kinds[i], values[i]) for i in order]
    features = _join(entries) if entries else pa.array([b""] * (len(values[0]) if values else 0), pa.binary())
    size = pc.binary_length(features).to_numpy().astype(np.int64)
    return _join(_field(0x0A, features, size))


_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data`."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def tfrecords(records: list[bytes]) -> bytes | pa.Buffer:
    """The TFRecord file (uncompressed) of `records`, as tf.io.TFRecordWriter writes it: per
    record its length (uint64), the length's masked CRC-32C, the bytes, their masked CRC-32C (all
    little-endian). One CRC call per record and one per distinct length, no writer call per record."""
    lengths = np.fromiter((len(r) for r in records), dtype=np.uint64, count=len(records))
    distinct, which = np.unique(lengths, return_inverse=True)
    length_crcs = np.array([_masked_crc(int(n).to_bytes(8, "little")) for n in distinct], dtype="<u4")
    head = np.empty(len(records), dtype=[("length", "<u8"), ("crc", "<u4")])  # packed: 12 bytes
    head["length"], head["crc"] = lengths, length_crcs[which] if len(records) else []
    tail = np.fromiter((_masked_crc(r) for r in records), dtype="<u4", count=len(records))
    heads = _binary(head.view(np.uint8), np.full(len(records), 12))
    tails = _binary(tail.view(np.uint8), np.full(len(records), 4))
    framed = _join([heads, pa.array(records, pa.binary()), tails])
    if not len(records):
        return b""
    offsets = np.frombuffer(framed.buffers()[1], dtype=np.int32, count=len(framed) + 1,
                            offset=framed.offset * 4)
    return framed.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
