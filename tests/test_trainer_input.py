"""The Trainer's input pipeline on real batch files (Batching's record format): held in memory
(small splits) and streamed in windows (splits over HOLD_BYTES), each epoch every row once, in
a new order, the same order on every run, rows kept whole, categories one-hot."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.input_pipeline import write_batches
from components.common.features import CategoricalFeature, FeaturePlan, NumericFeature
from components.trainer.executor import RESHUFFLE_BUFFER, read_batches
from components.trainer.model import Head

ROWS = 45_000  # more than two reshuffle windows


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rng = np.random.default_rng(0)
    ids = np.arange(ROWS, dtype=np.float32)
    x = np.column_stack([ids, rng.normal(size=ROWS), rng.integers(0, 4, size=ROWS)]).astype(np.float32)
    root = tmp_path_factory.mktemp("batches")
    write_batches(str(root), x, ids, 256)  # the label is the row's id: each row is traceable
    plan = FeaturePlan([NumericFeature("id", 0.0, 1.0), NumericFeature("noise", 0.0, 1.0)],
                       [CategoricalFeature("c", ["p", "q", "r"])], "y", "regression", "float")
    return str(root), x, plan


@pytest.mark.parametrize("hold", [True, False])
@pytest.mark.parametrize("batch_size,drop_remainder", [(1000, False), (1000, True), (32, False)])
def test_every_row_once_per_epoch_in_a_new_seeded_order(written, hold, batch_size, drop_remainder):
    root, x, plan = written
    head = Head("mse", "linear", 1, "value", ("mae",))

    def epochs(seed):
        data = read_batches(root, "train", plan, head, shuffle_seed=seed, batch_size=batch_size,
                            drop_remainder=drop_remainder, hold=hold)
        steps = ROWS // batch_size if drop_remainder else -(-ROWS // batch_size)
        assert int(data.cardinality()) == steps
        found = []
        for _ in range(2):
            batches = [(bx.numpy(), by.numpy()) for bx, by in data]
            assert len(batches) == steps
            assert all(len(by) == batch_size for _, by in batches[:-1])
            found.append(batches)
        return found

    first, second = epochs(7)
    for batches in (first, second):
        xs = np.concatenate([bx for bx, _ in batches])
        ys = np.concatenate([by for _, by in batches])[:, 0]
        assert xs.shape[1] == 2 + 4  # two numbers, three categories and one for unknown, one-hot
        np.testing.assert_array_equal(xs[:, 0], ys)  # rows kept whole
        ids = np.sort(ys).astype(np.int64)
        assert len(set(ids)) == len(ids)  # no row twice
        if not drop_remainder:
            np.testing.assert_array_equal(ids, np.arange(ROWS))  # every row
        else:
            assert len(ids) == ROWS // batch_size * batch_size
        expected = np.eye(4)[x[ys.astype(np.int64), 2].astype(np.int64)]
        np.testing.assert_array_equal(xs[:, 2:], expected)
    order = lambda batches: np.concatenate([by for _, by in batches])[:, 0]
    assert not np.array_equal(order(first), order(second))  # reshuffled every epoch
    again, _ = epochs(7)
    np.testing.assert_array_equal(order(first), order(again))  # the same on every run
    other, _ = epochs(8)
    assert not np.array_equal(order(first), order(other))
    if batch_size == 1000:  # mixed beyond one window: a batch holds rows from all over the split
        spread = [np.ptp(by) for _, by in first[:5]]
        assert max(spread) > (RESHUFFLE_BUFFER if not hold else ROWS / 2)
