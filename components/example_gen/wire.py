"""Serialized tf.Examples from Arrow columns, a whole block at a time, in protobuf's wire format.

The bytes are those of `tf.train.Example.SerializeToString(deterministic=True)`: features in name
order, each a one-value list of its column's type, or an empty list of that type for an empty
cell, or an empty Feature for a column without any value in any file. ExampleGen assigns
splits by a hash of exactly these bytes, as TFX's ExampleGen does.

Every length, tag and value is computed for all rows at once with numpy and Arrow's compute
kernels, no Python object per row: each piece of a row (a tag, a varint, a value) is a column of a
(rows, width) byte array, left-aligned, and one selection of the bytes each row uses makes the
records contiguous. The wire format, for one feature of one row:

    Features field 1 (a map entry):  0a <len> [ 0a <len> name  12 <len> Feature ]
    Feature: bytes_list = 1, float_list = 2, int64_list = 3:  <tag> <len> [ 0a <len> values ]

with <len> a varint. `tests/test_example_gen.py` checks the bytes against protobuf's on edge
cases (empty cells, negative and large integers, long and non-ASCII strings).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INT, FLOAT, STRING, UNKNOWN = "int", "float", "string", "unknown"  # a column's type, as tfx_bsl's
_LIST_TAG = {STRING: 0x0A, FLOAT: 0x12, INT: 0x1A}  # the Feature field of each list type


STRING_PADDING = 64  # bytes: longer string values are not padded to a row width but joined by Arrow


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


class _Bytes(NamedTuple):
    """A piece of each row's bytes, left-aligned in a (rows, width) array, `sizes` of each row's
    bytes used (None: all `width`; 0 where the row has no such piece)."""
    data: np.ndarray
    sizes: np.ndarray | None = None

    def used(self) -> np.ndarray:
        return np.full(len(self.data), self.data.shape[1]) if self.sizes is None else self.sizes

    def where(self, valid: np.ndarray | None) -> _Bytes:
        """The piece in the rows where `valid` (None: all), none in the others."""
        return self if valid is None else _Bytes(self.data, np.where(valid, self.used(), 0))


def _constant(value: bytes, rows: int) -> _Bytes:
    return _Bytes(np.broadcast_to(np.frombuffer(value, dtype=np.uint8), (rows, len(value))))


def _varint_bytes(values: np.ndarray) -> _Bytes:
    """The varint of each uint64 value (an int64 is its two's complement, as protobuf writes it)."""
    values = values.astype(np.uint64, copy=False)
    sizes = varint_sizes(values)
    width = int(sizes.max()) if len(sizes) else 1
    if width == 1:  # the usual case of lengths: one byte each
        return _Bytes(values.astype(np.uint8)[:, None])
    shifts = np.arange(width, dtype=np.uint64) * np.uint64(7)
    groups = ((values[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    groups |= np.where(np.arange(width) < sizes[:, None] - 1, 0x80, 0).astype(np.uint8)  # continuation bits
    return _Bytes(groups, None if sizes.min() == width else sizes)


def _padded(values: pa.Array, sizes: np.ndarray) -> _Bytes:
    """A binary column (no nulls) as left-aligned rows of its longest value's width."""
    width = int(sizes.max()) if len(sizes) else 0
    offsets = _offsets(values)
    data = np.zeros((len(values), width), dtype=np.uint8)
    if width:
        data[np.arange(width) < sizes[:, None]] = np.frombuffer(values.buffers()[2], dtype=np.uint8)[
            offsets[0]:offsets[-1]]
    return _Bytes(data, sizes)


def _rows(pieces: list[_Bytes]) -> pa.BinaryArray:
    """Each row's pieces, one after the other: one numpy copy of all pieces and, where some are
    shorter than their width in some rows, one boolean selection of the bytes used."""
    data = np.concatenate([piece.data for piece in pieces], axis=1)
    if all(piece.sizes is None for piece in pieces):
        return _binary(data.reshape(-1), np.full(len(data), data.shape[1]))
    used = np.concatenate([np.ones(piece.data.shape, dtype=bool) if piece.sizes is None else
                           np.arange(piece.data.shape[1]) < piece.sizes[:, None] for piece in pieces], axis=1)
    return _binary(data[used], sum(piece.used() for piece in pieces))


def varints(values: np.ndarray) -> pa.BinaryArray:
    """The varint of each uint64 value, one binary value per row."""
    return _rows([_varint_bytes(values)])


def _binary(data: np.ndarray, sizes: np.ndarray) -> pa.BinaryArray:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.BinaryArray.from_buffers(pa.binary(), len(sizes), [None, pa.py_buffer(offsets),
                                                               pa.py_buffer(np.ascontiguousarray(data))])


def _offsets(array: pa.BinaryArray) -> np.ndarray:
    """Where each value of a binary array starts in its data buffer, and where the last ends."""
    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)


def _varint(n: int) -> bytes:
    return varints(np.array([n], dtype=np.uint64))[0].as_py()


def _join(pieces: list) -> pa.BinaryArray:
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b""))
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def values_of(column: pa.Array, kind: str) -> pa.Array:
    """A column of CSV cells (strings, null when empty) as the typed values its examples hold."""
    if kind == STRING:
        return column.cast(pa.binary())
    target = pa.int64() if kind == INT else pa.float64()
    try:  # most files have no blanks around numbers: the trim only where the plain cast fails
        values = pc.cast(column, target)
    except pa.ArrowInvalid:
        values = pc.cast(pc.utf8_trim_whitespace(column), target)
    # a float is parsed as a double and then rounded to float32, as TFX's float(cell) into a
    # float_list does: parsing straight to float32 rounds once and differs just above a halfway point
    return values if kind == INT else values.cast(pa.float32())


def _list_body(values: pa.Array, kind: str) -> tuple[list[_Bytes], np.ndarray, pa.Array | None]:
    """Per row, the one-value list message of its value (nothing for a null): its pieces, their
    size and, for string values longer than STRING_PADDING, the values to follow the pieces."""
    valid = None if values.null_count == 0 else values.is_valid().to_numpy(zero_copy_only=False)
    rows = len(values)
    if kind == FLOAT:  # packed: 0a 04 <4 bytes, little-endian>
        data = np.empty((rows, 6), dtype=np.uint8)
        data[:, :2] = (0x0A, 0x04)
        data[:, 2:] = values.fill_null(0).to_numpy().astype("<f4").view(np.uint8).reshape(-1, 4)
        body = _Bytes(data).where(valid)
        return [body], body.used(), None
    if kind == INT:  # packed: 0a <len> <varint>
        number = _varint_bytes(values.fill_null(0).to_numpy().astype(np.int64).view(np.uint64))
        pieces = [_constant(b"\x0a", rows), _Bytes(number.used().astype(np.uint8)[:, None]), number]
        size = 2 + number.used()
        pieces = [piece.where(valid) for piece in pieces]
        return pieces, size if valid is None else np.where(valid, size, 0), None
    # bytes: 0a <len> <value>
    values = values.fill_null(b"")
    size = pc.binary_length(values).to_numpy().astype(np.int64)
    pieces = [_constant(b"\x0a", rows).where(valid), _varint_bytes(size).where(valid)]
    total = pieces[0].used() + pieces[1].used() + size
    if len(size) and size.max() > STRING_PADDING:
        return pieces, total, values
    return [*pieces, _padded(values, size)], total, None


def _entry(name: str, kind: str, values: pa.Array) -> tuple[list[_Bytes], np.ndarray, pa.Array | None]:
    """Per row, the Features map entry (field 1 of Features, tag and length included) of `name`:
    its pieces, its size and the long string values that end it (None: none)."""
    rows = len(values)
    key = b"\x0a" + _varint(len(name.encode())) + name.encode()
    if kind == UNKNOWN:  # an empty Feature
        entry = key + b"\x12\x00"
        entry = b"\x0a" + _varint(len(entry)) + entry
        return [_constant(entry, rows)], np.full(rows, len(entry)), None
    body, body_size, tail = _list_body(values, kind)
    body_length = _varint_bytes(body_size)
    feature_size = 1 + body_length.used() + body_size
    feature_length = _varint_bytes(feature_size)
    entry_size = len(key) + 1 + feature_length.used() + feature_size
    entry_length = _varint_bytes(entry_size)
    pieces = [_constant(b"\x0a", rows), entry_length, _constant(key + b"\x12", rows), feature_length,
              _constant(bytes([_LIST_TAG[kind]]), rows), body_length, *body]
    return pieces, 1 + entry_length.used() + entry_size, tail


def serialize_examples(names: list[str], kinds: list[str], columns: list[pa.Array]) -> pa.BinaryArray:
    """Canonical serialized tf.Examples of a block: one feature per column, typed as `kinds` says,
    from columns of CSV cells (strings, null for an empty cell)."""
    return serialize_values(names, kinds, typed_values(kinds, columns))


def typed_values(kinds: list[str], columns: list[pa.Array]) -> list[pa.Array]:
    """`values_of` each column (a column of UNKNOWN type as it is: all null)."""
    return [values_of(column, kind) if kind != UNKNOWN else column for kind, column in zip(kinds, columns)]


def serialize_values(names: list[str], kinds: list[str], values: list[pa.Array]) -> pa.BinaryArray:
    """`serialize_examples` of columns already typed (`typed_values`): every row's pieces in one
    (rows, width) array, made contiguous in one selection (`_rows`); a string column with values
    longer than STRING_PADDING bytes ends a stretch of columns, its values joined to it by Arrow."""
    rows = len(values[0]) if values else 0
    order = sorted(range(len(names)), key=lambda i: names[i])  # protobuf's deterministic map order
    entries = [_entry(names[i], kinds[i], values[i]) for i in order]
    features_length = _varint_bytes(sum((size for _, size, _ in entries), np.zeros(rows, dtype=np.int64)))
    stretches, pieces = [], [_constant(b"\x0a", rows), features_length]
    for entry, _, tail in entries:
        pieces += entry
        if tail is not None:
            stretches += [_rows(pieces), tail]
            pieces = []
    if pieces:
        stretches.append(_rows(pieces))
    return stretches[0] if len(stretches) == 1 else _join(stretches)


_MASK_DELTA = np.uint32(0xA282EAD8)


def record_list(records: pa.BinaryArray | list[bytes]) -> list[bytes]:
    """The records as Python bytes: one copy of the data buffer sliced (a quarter of the cost of
    `to_pylist`, which builds each value through a scalar)."""
    if isinstance(records, list):
        return records
    data = records.buffers()[2]
    raw = data.to_pybytes() if data is not None else b""
    return [raw[a:b] for a, b in itertools.pairwise(_offsets(records).tolist())]


def masked_crcs(records: list[bytes]) -> np.ndarray:
    """TFRecord's masked CRC-32C of each record (little-endian uint32): one C call per record,
    the mask in numpy."""
    from google_crc32c import cext  # the C implementation (its Python wrapper costs a call per record)

    crc = np.fromiter(map(cext.value, records), dtype=np.uint32, count=len(records))
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + _MASK_DELTA).astype("<u4")


def tfrecords(records: pa.BinaryArray | list[bytes], crcs: np.ndarray | None = None) -> bytes | pa.Buffer:
    """The TFRecord file (uncompressed) of `records`, as tf.io.TFRecordWriter writes it: per
    record its length (uint64), the length's masked CRC-32C, the bytes, their masked CRC-32C (all
    little-endian; `masked_crcs`, computed here unless given). One CRC call per record and one per
    distinct length, no writer call per record."""
    if isinstance(records, list):
        records = pa.array(records, pa.binary())
    if not len(records):
        return b""
    lengths = pc.binary_length(records).to_numpy().astype(np.uint64)
    distinct, which = np.unique(lengths, return_inverse=True)
    length_crcs = masked_crcs([int(n).to_bytes(8, "little") for n in distinct])
    head = np.empty(len(records), dtype=[("length", "<u8"), ("crc", "<u4")])  # packed: 12 bytes
    head["length"], head["crc"] = lengths, length_crcs[which]
    heads = _binary(head.view(np.uint8), np.full(len(records), 12))
    crcs = masked_crcs(record_list(records)) if crcs is None else crcs
    tails = _binary(crcs.astype("<u4").view(np.uint8), np.full(len(records), 4))
    framed = _join([heads, records, tails])
    offsets = _offsets(framed)
    return framed.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
