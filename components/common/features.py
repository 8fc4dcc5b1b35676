"""The feature plan: how raw features become the model's input vector, and how labels are coded.

The plan is built once, by the Batching stage, from the schema and the train split's
statistics (means, standard deviations and vocabularies that StatisticsGen already computed:
no extra pass over the data). It is saved as `plan.json` and applied twice with the same
constants: in numpy on Beam when batches are written, and in TensorFlow inside the exported
serving signature, so the served model takes raw tf.Examples.

Numeric features: missing values are imputed with the mean, then standardized.
String features: one-hot over the vocabulary plus one slot for missing or unseen values; a text
column with (nearly) one value per row is refused (ID-like, see `build_plan`), and so is an integer
column with a different value on every row, numbered densely (a row number, a sequential id:
`is_numeric_id`).
The task is inferred from the label (`infer_task`), and the plan says why (`describe`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

CLASSIFICATION = "classification"
REGRESSION = "regression"


class PlanError(ValueError):
    """The schema, statistics and spec do not allow a feature plan (for example an unknown label)."""


@dataclasses.dataclass
class NumericFeature:
    name: str
    mean: float
    std: float
    is_int: bool = False


@dataclasses.dataclass
class CategoricalFeature:
    name: str
    vocabulary: list[str]


@dataclasses.dataclass
class FeaturePlan:
    """Everything needed to turn raw examples into (x, y) with fixed constants."""

    numeric: list[NumericFeature]
    categorical: list[CategoricalFeature]
    label: str
    task: str
    label_kind: str  # "string", "int" or "float"
    classes: list[str] = dataclasses.field(default_factory=list)
    # Regression labels are trained standardized; the serving graph turns predictions back.
    label_mean: float = 0.0
    label_std: float = 1.0
    # What was inferred, in words (the plan the runner and `check` print): why this task, and
    # per column how it is encoded or why it is left out.
    task_reason: str = ""
    encodings: dict[str, str] = dataclasses.field(default_factory=dict)

    def describe(self) -> list[str]:
        """The plan in a few lines: the task and why, the classes, each column's encoding."""
        lines = [f"task: {self.task} ({self.task_reason})" if self.task_reason else f"task: {self.task}"]
        if self.classes:
            shown = ", ".join(self.classes[:20]) + (f", ... ({len(self.classes)} in all)"
                                                    if len(self.classes) > 20 else "")
            lines.append(f"classes ({len(self.classes)}): {shown}")
        elif self.task == REGRESSION:
            lines.append(f"label {self.label!r}: trained standardized (mean {self.label_mean:.6g}, "
                         f"std {self.label_std:.6g}); metrics are in the label's own units")
        lines += [f"  {name}: {how}" for name, how in self.encodings.items()]
        return lines

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(c.vocabulary) + 1 for c in self.categorical)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeaturePlan:
        raw = json.loads(text)
        raw["numeric"] = [NumericFeature(**f) for f in raw["numeric"]]
        raw["categorical"] = [CategoricalFeature(**f) for f in raw["categorical"]]
        return cls(**raw)

    # -- numpy, on Beam ------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        """Columns of `encode`'s matrix: one per feature (a category as its vocabulary index; the
        one-hot expansion to `width` happens in TensorFlow, `expand`)."""
        return len(self.numeric) + len(self.categorical)

    def encode(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x float32 [n, columns], y [n], keep bool [n]) of a decoded record batch: numeric
        features imputed and standardized, categorical ones as vocabulary indices (the last for
        missing or unseen values); rows whose label is missing are marked keep=False."""
        import pyarrow.compute as pc

        n = batch.num_rows
        found = dict(zip(batch.schema.names, batch.columns))
        x = np.empty((n, self.columns), dtype=np.float32)
        for i, f in enumerate(self.numeric):
            values = _numbers(first_values(found.get(f.name), n))
            x[:, i] = (np.where(np.isnan(values), f.mean, values) - f.mean) / f.std
        for i, c in enumerate(self.categorical, start=len(self.numeric)):
            values = first_values(found.get(c.name), n)
            ids = pc.index_in(values, value_set=pa_array([v.encode() for v in c.vocabulary], values.type))
            x[:, i] = ids.fill_null(len(c.vocabulary)).to_numpy(zero_copy_only=False)
        y, keep = self.encode_labels(first_values(found.get(self.label), n))
        if self.task == REGRESSION:
            y = ((y - self.label_mean) / self.label_std).astype(np.float32)
        return x, y, keep

    def encode_labels(self, labels: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Labels (the first value of each row, null where there is none) as class ids
        (classification) or raw floats (regression), with a mask of the rows whose label is
        usable (present, and a known class)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.task == REGRESSION:
            y = _numbers(labels)
            keep = ~np.isnan(y)
            return np.where(keep, y, 0).astype(np.float32), keep
        if self.label_kind == "string":
            ids = pc.index_in(labels, value_set=pa_array([c.encode() for c in self.classes], labels.type))
        else:  # integer classes, named by their decimal text
            ids = pc.index_in(pc.cast(labels, pa.string()), value_set=pa.array(self.classes, pa.string()))
        ids = ids.fill_null(-1).to_numpy(zero_copy_only=False)
        return ids.astype(np.float32), ids >= 0

    # -- TensorFlow, in the serving graph --------------------------------------------------------

    def raw_feature_spec(self) -> dict[str, Any]:
        """tf.io parsing spec of the raw features (the label is not needed to serve)."""
        import tensorflow as tf

        spec = {f.name: tf.io.RaggedFeature(tf.int64 if f.is_int else tf.float32) for f in self.numeric}
        spec.update({f.name: tf.io.RaggedFeature(tf.string) for f in self.categorical})
        return spec

    def lookup_tables(self) -> dict[str, Any]:
        """String -> vocabulary index tables of the categorical features (unseen: the last slot)."""
        import tensorflow as tf

        return {
            f.name: tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(f.vocabulary or [""], tf.string),
                    tf.range(max(len(f.vocabulary), 1), dtype=tf.int64),
                ),
                default_value=len(f.vocabulary),
            )
            for f in self.categorical
        }

    def transform(self, features: dict[str, Any], tables: dict[str, Any]) -> tf.Tensor:
        """The same preprocessing as `encode` then `expand`, as TensorFlow ops on parsed raw
        features: the model's input [n, width]."""
        import tensorflow as tf

        parts = []
        for f in self.numeric:
            values = tf.cast(features[f.name][:, :1].to_tensor(default_value=0, shape=[None, 1]), tf.float32)
            present = features[f.name].row_lengths()[:, None] > 0
            values = tf.where(present, values, tf.constant(f.mean, tf.float32))
            parts.append((values - f.mean) / f.std)
        for c in self.categorical:
            values = features[c.name][:, :1].to_tensor(default_value="", shape=[None, 1])
            parts.append(tf.cast(tables[c.name].lookup(values), tf.float32))
        return self.expand(tf.concat(parts, axis=1))

    def expand(self, x: tf.Tensor) -> tf.Tensor:
        """[n, columns] (`encode`'s matrix) -> [n, width]: each vocabulary index one-hot."""
        import tensorflow as tf

        if not self.categorical:
            return x
        k = len(self.numeric)
        parts = [x[:, :k]] + [tf.one_hot(tf.cast(x[:, k + i], tf.int32), len(f.vocabulary) + 1, dtype=x.dtype)
                              for i, f in enumerate(self.categorical)]
        return tf.concat(parts, axis=1)


def pa_array(values: list, type_: pa.DataType) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, pa.binary()).cast(type_)


def first_values(column: pa.Array | None, n: int) -> pa.Array:
    """The first value of each row of a list column (a feature of decoded tf.Examples), null
    where a row has none; all null when the column is absent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None:
        return pa.nulls(n, pa.binary())
    offsets = column.offsets.to_numpy()  # into column.values, which a slice or a null row does not cut
    present = np.diff(offsets) > 0
    if column.null_count:
        present &= column.is_valid().to_numpy(zero_copy_only=False)
    values = column.values
    if len(values) == 0:
        return pa.nulls(n, values.type)
    if offsets[-1] - offsets[0] == n and present.all():  # one value in every row, as ExampleGen writes
        return values.slice(int(offsets[0]), n)
    first = values.take(pa.array(np.where(present, offsets[:-1], 0)))
    return pc.if_else(pa.array(present), first, pa.scalar(None, first.type))


def first_values_of(lengths: np.ndarray, flat: np.ndarray) -> pa.Array:
    """`first_values` from a ragged tensor's row lengths and flat values (numpy)."""
    import pyarrow as pa

    present = lengths > 0
    starts = np.cumsum(lengths) - lengths
    strings = flat.dtype == object
    if not len(flat):
        return pa.nulls(len(lengths), pa.binary() if strings else pa.from_numpy_dtype(flat.dtype))
    return pa.array(flat[np.where(present, starts, 0)], mask=~present, type=pa.binary() if strings else None)


def _numbers(values: pa.Array) -> np.ndarray:
    """float64 numpy of a numeric Arrow array, NaN where null."""
    import pyarrow as pa

    if values.null_count == len(values):
        return np.full(len(values), np.nan)
    return values.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)


# Task inference (`infer_task`): an integer label is a count or an amount, not classes, when it
# takes many values; a classification needs rows to learn each class from.
MAX_AUTO_CLASSES = 20  # an integer label with more values than this is a regression by default
ROWS_PER_VALUE = 50  # ... and one with more than 10 values and more than one value per 50 rows
MIN_ROWS_PER_CLASS = 10  # a classification needs at least this many train rows per class, on average
MAX_CLASSES = 1_000  # the output layer, per-class metrics and the confusion matrix grow with the classes
REGRESSION_LOSSES = ("mse", "mae", "huber")
CLASS_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                "kl_divergence")


def infer_task(label: str, kind: str, values: int, rows: int, task: str = "auto", loss: str = "auto",
               where: str = "train rows", low: int | None = None, high: int | None = None) -> tuple[str, str]:
    """(task, why in words) for a label of `kind` ("string", "int" or "float") that takes `values`
    distinct values (for an integer label, the classes a classifier would have: low..high) in
    `rows` labelled rows. Raises PlanError for what cannot be trained honestly: a regression on
    text, a classification of fractional numbers, more classes than the rows support, or a loss
    of the other task. The same rules for `tfx-yaml check` (on the CSV files) and Batching (on the
    train split's statistics)."""
    shown = (f"values {low}..{high} ({values} possible classes)" if kind == "int" and low is not None
             else f"{values} distinct value(s)")
    if task == "auto":
        if kind == "string":
            task, why = CLASSIFICATION, f"label {label!r} holds text: {shown} in {rows:,} {where}"
        elif kind == "float":
            task, why = REGRESSION, f"label {label!r} holds fractional numbers"
        elif values > MAX_AUTO_CLASSES or (values > 10 and values * ROWS_PER_VALUE > rows):
            task, why = REGRESSION, (
                f"integer label {label!r} takes {shown} in {rows:,} {where}: more than {MAX_AUTO_CLASSES}, "
                f"or more than 10 and more than one per {ROWS_PER_VALUE} rows, so it is taken as a count or "
                "amount; set trainer.task: classification to train classes")
        else:
            task, why = CLASSIFICATION, (
                f"integer label {label!r} takes {shown} in {rows:,} {where} (at most {MAX_AUTO_CLASSES}); "
                "set trainer.task: regression to predict the number")
        if loss in CLASS_LOSSES and task == REGRESSION:
            raise PlanError(f"key 'trainer.loss': {loss!r} needs classes, but {why}. Use trainer.loss: mse, "
                            "mae or huber (or auto)"
                            + ("; or set trainer.task: classification" if kind == "int" else ""))
        if loss in REGRESSION_LOSSES and task == CLASSIFICATION:
            raise PlanError(f"key 'trainer.loss': {loss!r} is a regression loss, but {why}, a "
                            "classification. Use trainer.loss: sparse_categorical_crossentropy (or auto)"
                            + ("; or set trainer.task: regression" if kind == "int" else ""))
    else:
        why = f"trainer.task: {task} (label {label!r}: {shown} in {rows:,} {where})"
        if task == REGRESSION and kind == "string":
            raise PlanError(f"key 'trainer.task': regression needs a numeric label, but {label!r} holds "
                            "text; use task: classification (or auto)")
        if task == CLASSIFICATION and kind == "float":
            raise PlanError("key 'trainer.task': classification needs string or integer classes, but "
                            f"{label!r} holds fractional numbers; use task: regression (or auto)")
    if task == CLASSIFICATION and values > MAX_CLASSES:
        raise PlanError(
            f"key 'data.label': label {label!r} has {values:,} classes ({shown}) in {rows:,} {where}: more "
            f"than {MAX_CLASSES:,}, the most this project trains (the output layer, the per-class metrics "
            "and the evaluation grow with the class count). Group rare classes into one (for example "
            "'other') in the data, choose another label"
            + (", or set trainer.task: regression if it is a number" if kind == "int" else ""))
    if task == CLASSIFICATION and rows and values * MIN_ROWS_PER_CLASS > rows:
        raise PlanError(
            f"key 'data.label': label {label!r} has {values:,} classes ({shown}) for {rows:,} {where}: fewer "
            f"than {MIN_ROWS_PER_CLASS} rows per class, too few to learn them. "
            + ("Set trainer.task: regression if it is a number, " if kind == "int" else "")
            + "choose another label, or add rows")
    return task, why


def build_plan(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatistics,
    label: str,
    exclude: list[str],
    task: str = "auto",
    loss: str = "auto",
    task_reason: str | None = None,
) -> FeaturePlan:
    """The plan of the features in `schema`, with constants from the train split's statistics.
    `task_reason`: why the compiler inferred `task` from the data (said instead of the spec's)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    stats = {s.path.step[0]: s for s in statistics.features if s.path.step}
    domains = {d.name: list(d.value) for d in schema.string_domain}
    features = {f.name: f for f in schema.feature}
    if label not in features:
        raise PlanError(
            f"label {label!r} is not a feature of the schema; features are: {', '.join(sorted(features))}"
        )
    numeric, categorical, encodings, id_like, numeric_ids = [], [], {}, [], []
    for f in schema.feature:
        if f.name == label:
            continue
        if f.name in exclude:
            encodings[f.name] = "excluded (data.exclude)"
            continue
        if f.type in (schema_pb2.FLOAT, schema_pb2.INT):
            num = stats[f.name].num_stats if f.name in stats else None
            mean = float(num.mean) if num else 0.0
            std = float(num.std_dev) if num and num.std_dev > 0 else 1.0
            missing = int(num.common_stats.num_missing) if num else 0
            distinct = present = None
            if f.type == schema_pb2.INT and num is not None and not f.HasField("int_domain"):
                distinct, present = distinct_values(stats[f.name]), int(num.common_stats.num_non_missing)
                why = is_numeric_id(distinct, present, int(num.min), int(num.max), exact=distinct is not None
                                    and distinct < DISTINCT_EXACT)
                if why:
                    numeric_ids.append((f.name, distinct, present, why))
                    continue
            numeric.append(NumericFeature(f.name, mean, std, is_int=f.type == schema_pb2.INT))
            encodings[f.name] = numeric_encoding(mean, std, missing, distinct, present)
        elif f.type == schema_pb2.BYTES:
            feature_stats = stats.get(f.name)
            curated = f.HasField("string_domain") or f.domain in domains
            unique, present = _string_counts(feature_stats)
            if not curated and is_id_like(unique, present):
                id_like.append((f.name, unique, present))
                continue
            vocabulary = _vocabulary(f, domains, feature_stats)
            categorical.append(CategoricalFeature(f.name, vocabulary))
            missing = int(feature_stats.string_stats.common_stats.num_missing) if feature_stats else 0
            encodings[f.name] = categorical_encoding(len(vocabulary),
                                                     unique if not curated else len(vocabulary), missing)
        else:
            encodings[f.name] = "not used (a struct or unknown type)"
    if id_like or numeric_ids:
        raise PlanError(id_like_message(id_like, exclude, numbers=numeric_ids))
    label_feature = features[label]
    kind = {schema_pb2.BYTES: "string", schema_pb2.INT: "int"}.get(label_feature.type, "float")
    label_stats = stats.get(label)
    rows = _non_missing(label_stats, statistics.num_examples)
    low = high = None
    if kind == "string":
        values = _distinct_values(label_stats) or 0
    elif kind == "int":
        low, high = _int_range(label_feature, label_stats)
        values = high - low + 1
    else:
        values = 0
    task, why = infer_task(label, kind, values, rows, task, loss, low=low, high=high)
    why = task_reason or why
    classes: list[str] = []
    label_mean, label_std = 0.0, 1.0
    if task == REGRESSION and label_stats is not None and label_stats.HasField("num_stats"):
        label_mean = float(label_stats.num_stats.mean)
        label_std = float(label_stats.num_stats.std_dev) or 1.0
    if task == CLASSIFICATION:
        classes = _label_classes(label_feature, domains, label_stats, kind)
        observed = _distinct_values(label_stats)
        if len(classes) < 2 or (observed is not None and observed < 2):
            raise PlanError(
                f"label {label!r} has {observed if observed is not None else len(classes)} distinct value(s) "
                "in the train split; classification needs at least 2 classes. Check data.label and the data "
                "(a model that always predicts one class would be trained and pushed otherwise)")
    return FeaturePlan(numeric, categorical, label, task, kind, classes, label_mean, label_std, why,
                       encodings)


# A text column is ID-like (refused, see build_plan) when at least this share of its values are
# distinct and it has more than ID_LIKE_MIN_VALUES of them.
ID_LIKE_SHARE = 0.5
ID_LIKE_MIN_VALUES = 20
# An integer column is an identifier (refused) when it has a different value on every row (more
# than ID_LIKE_MIN_VALUES rows), numbered densely (is_numeric_id): StatisticsGen's DISTINCT
# statistic is exact below DISTINCT_EXACT distinct values and within NUMERIC_ID_TOLERANCE of the
# count beyond (a KMV sketch).
DISTINCT = "distinct_values"  # the custom statistic of each integer feature (statistics_gen/counts.py)
DISTINCT_EXACT = 1 << 16
NUMERIC_ID_TOLERANCE = 0.01
ID_SPAN_PER_ROW = 3  # ... and its range (max - min + 1) is at most this many times its rows


def distinct_values(feature_stats: Any) -> int | None:
    """The DISTINCT statistic of a feature's statistics (FeatureNameStatistics); None without it."""
    found = [c.num for c in feature_stats.custom_stats if c.name == DISTINCT] if feature_stats else []
    return int(found[0]) if found else None


def is_id_like(unique: int, present: int) -> bool:
    """Whether a text column with `unique` distinct values in `present` rows (that have a value)
    looks like an identifier, a date or free text: the rule of Batching (on the train split's
    statistics) and of `tfx-yaml check` (on the data files' rows)."""
    return unique > ID_LIKE_MIN_VALUES and unique >= ID_LIKE_SHARE * present


def id_like_message(columns: Sequence[tuple[str, int, int]], exclude: Sequence[str] = (),
                    where: str = "rows", numbers: Sequence[tuple[str, int | None, int, str]] = ()) -> str:
    """The refusal of ID-like text columns, each (name, distinct values, rows with a value), and of
    integer identifiers (`numbers`: name, distinct values, rows with a value, why, from
    is_numeric_id): the columns, the rule, and the data.exclude line to write (with what the spec
    excludes already)."""
    names = [name for name, *_ in columns] + [name for name, *_ in numbers]
    line = ", ".join(list(dict.fromkeys([*exclude, *names])))
    parts = []
    if columns:
        named = ", ".join(f"{name!r} ({unique:,} distinct values in {present:,} {where})"
                          for name, unique, present in columns)
        parts.append(f"column(s) {named} look like identifiers, dates or free text: (nearly) one value per "
                     f"row (at least {ID_LIKE_SHARE:.0%} distinct, more than {ID_LIKE_MIN_VALUES}). One-hot "
                     "encoded, the model would memorise the train rows and meet only unseen values in new "
                     "data.")
    if numbers:
        named = ", ".join(f"{name!r} ({distinct:,} distinct values in {present:,} {where}: {why})"
                          for name, distinct, present, why in numbers)
        parts.append(f"integer column(s) {named} look like identifiers (a row number, an id): a different "
                     f"value on every row (more than {ID_LIKE_MIN_VALUES}), numbered densely (a range at "
                     f"most {ID_SPAN_PER_ROW} times the rows). Standardized as a quantity, the model would "
                     "learn the order or the ids of the train rows, which new data does not repeat.")
    hint = ("; for a date, derive numeric columns (year, month, day of week) in the data and exclude the "
            "date itself" if columns else "")
    if numbers:
        hint += ("; if an integer column is a quantity (an amount, a count), give it an int_domain in a "
                 "curated schema (schema.path) to keep it")
    return " ".join(parts) + f" Add them to data.exclude (data: {{exclude: [{line}]}})" + hint


def is_numeric_id(distinct: int | None, present: int, low: int, high: int, exact: bool = True) -> str | None:
    """Why an integer column with `distinct` values in `present` rows (that have a value), from
    `low` to `high`, looks like an identifier, in words ("a running index 1..908", "unique on every
    row, numbered densely within 3..1204"); None when it does not or the distinct count is unknown.
    An identifier has a different value on every row and is numbered densely: its range is at most
    ID_SPAN_PER_ROW times its rows (a row number, a sequential id; in a train split, a subset of
    them). A sparse unique integer (an amount, a random id) is kept and named by the plan
    (numeric_encoding). `exact`: whether `distinct` is exact (else an estimate within
    NUMERIC_ID_TOLERANCE). The rule of Batching (on the train split's statistics) and of
    `tfx-yaml check` (on the data files' rows)."""
    if distinct is None or present <= ID_LIKE_MIN_VALUES:
        return None
    if distinct < present * (1 if exact else 1 - NUMERIC_ID_TOLERANCE):
        return None
    if high - low + 1 == present:
        return f"a running index {low}..{high}"
    if high - low + 1 <= ID_SPAN_PER_ROW * present:
        return f"unique on every row, numbered densely within {low}..{high}"
    return None


def numeric_encoding(mean: float, std: float, missing: int, distinct: int | None = None,
                     present: int | None = None) -> str:
    """How a numeric column is encoded, in the plan's words; an integer column with `distinct`
    values in `present` rows is named when they are many (is_id_like's rule), as a possible code."""
    many = distinct is not None and present is not None and is_id_like(distinct, present)
    return (f"numeric, standardized (mean {mean:.4g}, std {std:.4g})"
            + (f"; {missing:,} missing value(s) imputed with the mean" if missing else "")
            + (f"; high cardinality: {distinct:,} distinct integers in {present:,} rows: if it is a code or "
               "an identifier rather than a quantity, add it to data.exclude" if many else ""))


def categorical_encoding(kept: int, unique: int, missing: int = 0) -> str:
    """How a text column is encoded, in the plan's words: `kept` of its `unique` values one-hot;
    `missing` rows without a value."""
    return (f"categorical, one-hot over {kept:,} values + 1 slot for missing or unseen ones"
            + (f"; it has {unique:,} distinct values: the {kept:,} most frequent are kept, the others share "
               "that slot (batching.max_vocabulary)" if unique > kept else "")
            + (f"; {missing:,} missing value(s) in that slot" if missing else ""))


def _string_counts(stats: Any) -> tuple[int, int]:
    """(distinct values, rows with a value) of a string feature, from its statistics."""
    if stats is None or not stats.HasField("string_stats"):
        return 0, 0
    return int(stats.string_stats.unique), int(stats.string_stats.common_stats.num_non_missing)


def _non_missing(stats: Any, default: int) -> int:
    """How many rows have the feature (the labelled rows, for the label)."""
    if stats is None:
        return default
    for kind in ("num_stats", "string_stats"):
        if stats.HasField(kind):
            return int(getattr(stats, kind).common_stats.num_non_missing)
    return default


def _int_range(feature: Any, stats: Any) -> tuple[int, int]:
    if feature.HasField("int_domain") and feature.int_domain.HasField("max"):
        return int(feature.int_domain.min), int(feature.int_domain.max)
    if stats is not None and stats.HasField("num_stats"):
        return int(stats.num_stats.min), int(stats.num_stats.max)
    raise PlanError(f"integer label {feature.name!r} has no range in the schema or statistics")


def _distinct_values(stats: Any) -> int | None:
    """How many distinct values a feature took in the statistics, when they tell."""
    if stats is None:
        return None
    if stats.HasField("string_stats"):
        return int(stats.string_stats.unique)
    if stats.HasField("num_stats") and stats.num_stats.common_stats.num_non_missing:
        return 1 if stats.num_stats.min == stats.num_stats.max else None
    return None


def _vocabulary(feature: Any, domains: dict, stats: Any) -> list[str]:
    if feature.HasField("string_domain"):
        return list(feature.string_domain.value)
    if feature.domain in domains:
        return domains[feature.domain]
    if stats is not None and stats.HasField("string_stats"):
        # The rank histogram holds every value up to StatsOptions.num_rank_histogram_buckets
        # (batching.max_vocabulary); top_values only the 20 most frequent.
        ranked = [b.label for b in stats.string_stats.rank_histogram.buckets]
        values = ranked or [v.value for v in stats.string_stats.top_values]
        if stats.string_stats.unique > len(values):
            logging.getLogger(__name__).warning(
                "feature %r has %d distinct values; the vocabulary keeps the %d most frequent (batching."
                "max_vocabulary), the others share the out-of-vocabulary slot", feature.name,
                stats.string_stats.unique, len(values))
        return sorted(values)
    return []


def _label_classes(feature: Any, domains: dict, stats: Any, kind: str) -> list[str]:
    if kind == "string":
        return sorted(_vocabulary(feature, domains, stats))
    low, high = _int_range(feature, stats)
    if high - low > 1000:
        raise PlanError(f"integer label {feature.name!r} spans {low}..{high}; at most 1001 classes are "
                        "supported")
    return [str(i) for i in range(low, high + 1)]  # from the smallest observed value, not from 0
