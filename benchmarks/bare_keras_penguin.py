"""The penguin model as a bare Keras script: the anchor for the pipeline's own overhead.

    .venv/bin/python benchmarks/bare_keras_penguin.py

The same data (pipelines/penguin/data/penguins_raw.csv), the same split rule (2:1 by a hash of
the row), the same preprocessing (mean-imputed, standardized numbers; one-hot island and sex;
year excluded), the same model and training as pipelines/penguin/pipeline.yaml (hidden layers of
16 and 8 relu units plus dropout 0.2 and the wide path as the Trainer builds them, Adam at 0.01,
batches of 16, up to 60 epochs, early stopping on val_loss with patience 8, best weights restored)
in one process with pandas and Keras, no TFX, no Beam, no ML Metadata. It prints one JSON line:
seconds from process start and eval accuracy. `benchmarks/penguin_vs_reference.py` runs it.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "pipelines" / "penguin" / "data" / "penguins_raw.csv"


def main() -> None:
    frame = pd.read_csv(DATA)
    frame = frame[frame["species"].notna()]
    is_eval = frame.apply(lambda row: int(hashlib.sha256(row.to_json().encode()).hexdigest(), 16) % 3 == 2,
                          axis=1)
    train, evaluation = frame[~is_eval], frame[is_eval]
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    categorical = ["island", "sex"]
    classes = sorted(train["species"].unique())

    def encode(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = (part[numeric].fillna(train[numeric].mean()) - train[numeric].mean()) / train[numeric].std()
        columns = [x.to_numpy()]
        for name in categorical:
            vocabulary = sorted(train[name].dropna().unique())
            columns.append(np.stack([(part[name] == v).to_numpy() for v in vocabulary]
                                    + [~part[name].isin(vocabulary).to_numpy()], axis=1))
        features = np.concatenate(columns, axis=1).astype("float32")
        return features, part["species"].map(classes.index).to_numpy()

    (x_train, y_train), (x_eval, y_eval) = encode(train), encode(evaluation)
    keras.utils.set_random_seed(42)
    inputs = keras.Input((x_train.shape[1],))
    hidden = inputs
    for units in (16, 8):
        hidden = keras.layers.Dropout(0.2)(keras.layers.Dense(units, activation="relu")(hidden))
    merged = keras.layers.Concatenate()([hidden, inputs])
    outputs = keras.layers.Dense(len(classes), activation="softmax")(merged)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=16, epochs=60, validation_data=(x_eval, y_eval), verbose=0,
              callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=8, restore_best_weights=True)])
    accuracy = float(model.evaluate(x_eval, y_eval, verbose=0)[1])
    print(json.dumps({"seconds": time.perf_counter() - STARTED, "accuracy": accuracy}))


if __name__ == "__main__":
    main()
