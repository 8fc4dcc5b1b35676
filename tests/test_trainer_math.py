"""The Trainer's building blocks against the published formulas, computed by hand in numpy."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from components.trainer.registry import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    get_activation,
    get_loss,
    get_optimizer,
)
from pipelines.spec.models import ACTIVATIONS as SPEC_ACTIVATIONS
from pipelines.spec.models import LOSSES as SPEC_LOSSES
from pipelines.spec.models import OPTIMIZERS as SPEC_OPTIMIZERS
from pipelines.spec.models import OptimizerSection

W0 = np.array([0.5, -1.5, 2.0], dtype=np.float64)
GRADS = [np.array([0.1, -0.2, 0.3]), np.array([-0.4, 0.05, 0.2]), np.array([0.3, 0.3, -0.1])]


def keras_steps(name: str, **options) -> np.ndarray:
    """The weights after applying GRADS, one step each, with the registry's optimizer."""
    optimizer = get_optimizer(OptimizerSection(name=name, **options))
    var = keras.Variable(W0.astype(np.float32))
    for g in GRADS:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype(np.float32)), var)])
    return keras.ops.convert_to_numpy(var).astype(np.float64)


def test_registries_match_the_names_the_spec_accepts():
    assert tuple(LOSSES) == SPEC_LOSSES
    assert tuple(ACTIVATIONS) == SPEC_ACTIVATIONS
    assert tuple(OPTIMIZERS) == SPEC_OPTIMIZERS


def test_sgd():
    lr, w = 0.1, W0.copy()
    for g in GRADS:
        w = w - lr * g
    np.testing.assert_allclose(keras_steps("sgd", learning_rate=lr), w, rtol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_and_nesterov(nesterov):
    lr, mu, w, v = 0.1, 0.9, W0.copy(), np.zeros(3)
    for g in GRADS:
        v = mu * v - lr * g  # velocity (Sutskever et al., 2013)
        w = w + (mu * v - lr * g if nesterov else v)
    got = keras_steps("momentum", learning_rate=lr, momentum=mu, nesterov=nesterov)
    np.testing.assert_allclose(got, w, rtol=1e-6)


def test_adam_with_bias_correction():
    """Kingma & Ba (2015), Algorithm 1: moments weighted by (1 - beta), bias-corrected."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(keras_steps("adam", learning_rate=lr), w, rtol=1e-5)


def test_adamw_decouples_weight_decay():
    """Loshchilov & Hutter (2019): the decay is applied to the weights, not added to the gradient."""
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-7, 0.1
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * wd * w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    np.testing.assert_allclose(keras_steps("adamw", learning_rate=lr, weight_decay=wd), w, rtol=1e-5)


def test_adagrad_accumulates_squared_gradients():
    """Duchi et al. (2011): the accumulator grows by g^2 and divides the step, not the weights."""
    lr, acc0, eps = 0.1, 0.1, 1e-7
    w, acc = W0.copy(), np.full(3, acc0)
    for g in GRADS:
        acc = acc + g * g
        w = w - lr * g / (np.sqrt(acc) + eps)
    got = keras_steps("adagrad", learning_rate=lr, initial_accumulator_value=acc0)
    np.testing.assert_allclose(got, w, rtol=1e-5)


def test_rmsprop():
    """Hinton's RMSprop: a decaying average of g^2 scales the step."""
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, avg = W0.copy(), np.zeros(3)
    for g in GRADS:
        avg = rho * avg + (1 - rho) * g * g
        w = w - lr * g / (np.sqrt(avg) + eps)
    np.testing.assert_allclose(keras_steps("rmsprop", learning_rate=lr, rho=rho), w, rtol=1e-4)


def test_adadelta():
    """Zeiler (2012), Algorithm 1 (learning rate 1.0 as in the paper)."""
    rho, eps = 0.95, 1e-7
    w, eg, edx = W0.copy(), np.zeros(3), np.zeros(3)
    for g in GRADS:
        eg = rho * eg + (1 - rho) * g * g
        dx = -np.sqrt(edx + eps) / np.sqrt(eg + eps) * g
        edx = rho * edx + (1 - rho) * dx * dx
        w = w + dx
    np.testing.assert_allclose(keras_steps("adadelta", learning_rate=1.0, rho=rho), w, rtol=1e-5)


Y_TRUE = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
Y_PRED = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])


@pytest.mark.parametrize(("name", "y_true", "y_pred", "expected"), [
    ("mse", Y_TRUE, Y_PRED, np.mean(np.mean((Y_TRUE - Y_PRED) ** 2, axis=1))),
    ("mae", Y_TRUE, Y_PRED, np.mean(np.mean(np.abs(Y_TRUE - Y_PRED), axis=1))),
    ("huber", np.array([[0.0], [3.0]]), np.array([[0.5], [0.0]]), np.mean([0.5 * 0.5**2, 3.0 - 0.5])),
    ("categorical_crossentropy", Y_TRUE, Y_PRED, np.mean([-np.log(0.7), -np.log(0.6)])),
    ("sparse_categorical_crossentropy", np.array([1, 0]), Y_PRED, np.mean([-np.log(0.7), -np.log(0.6)])),
    ("binary_crossentropy", np.array([[1.0], [0.0]]), np.array([[0.8], [0.3]]),
     np.mean([-np.log(0.8), -np.log(0.7)])),
    ("kl_divergence", np.array([[0.5, 0.5, 0.0]]), np.array([[0.25, 0.5, 0.25]]),
     0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(1.0)),
])
def test_loss_equals_its_formula(name, y_true, y_pred, expected):
    got = get_loss(name)(keras.ops.convert_to_tensor(y_true.astype(np.float32)),
                         keras.ops.convert_to_tensor(y_pred.astype(np.float32)))
    assert float(got) == pytest.approx(expected, rel=1e-5)


Z = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0]])


def _erf(x):
    from math import erf

    return np.vectorize(erf)(x)


@pytest.mark.parametrize(("name", "expected"), [
    ("relu", np.maximum(Z, 0)),
    ("leaky_relu", np.where(Z > 0, Z, 0.2 * Z)),
    ("elu", np.where(Z > 0, Z, np.exp(Z) - 1)),
    ("sigmoid", 1 / (1 + np.exp(-Z))),
    ("tanh", (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))),
    ("softmax", np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)),
    ("gelu", 0.5 * Z * (1 + _erf(Z / np.sqrt(2)))),
    ("linear", Z),
])
def test_activation_equals_its_formula(name, expected):
    got = keras.ops.convert_to_numpy(get_activation(name)(keras.ops.convert_to_tensor(Z.astype(np.float32))))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'.*did you mean 'adam'\?"):
        get_optimizer(OptimizerSection.model_construct(name="adamm", learning_rate=0.1))


# Every hyper-parameter at a non-default value, through the spec -> registry path, against the
# written-out update rule at 1e-6 relative tolerance: an optimizer that ignored beta_1, beta_2,
# epsilon, rho, momentum, the initial accumulator or weight decay would fail. Where Keras places
# epsilon differently from a paper's pseudo-code, the reference uses Keras' placement and says so.
RTOL = 1e-6


def _decay(w, lr, wd):
    """Keras applies weight_decay to the weights before the step: w <- w - lr * wd * w."""
    return w - lr * wd * w if wd else w


@pytest.mark.parametrize("wd", [None, 0.2])
def test_sgd_hyper_parameters(wd):
    lr, w = 0.05, W0.copy()
    for g in GRADS:
        w = _decay(w, lr, wd) - lr * g
    np.testing.assert_allclose(keras_steps("sgd", learning_rate=lr, weight_decay=wd), w, rtol=RTOL)


@pytest.mark.parametrize(("mu", "nesterov", "wd"), [(0.5, False, None), (0.3, True, None), (0.5, False, 0.2)])
def test_momentum_hyper_parameters(mu, nesterov, wd):
    lr, w, v = 0.05, W0.copy(), np.zeros(3)
    for g in GRADS:
        w = _decay(w, lr, wd)
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
    got = keras_steps("momentum", learning_rate=lr, momentum=mu, nesterov=nesterov, weight_decay=wd)
    np.testing.assert_allclose(got, w, rtol=RTOL)


def test_adam_hyper_parameters():
    """Kingma & Ba's efficient form (end of their section 2): the step size carries the bias
    corrections and epsilon is added to sqrt(v) (their epsilon-hat), as Keras computes it."""
    lr, b1, b2, eps = 0.05, 0.5, 0.8, 1e-2
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    got = keras_steps("adam", learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np.testing.assert_allclose(got, w, rtol=RTOL)


def test_adamw_hyper_parameters():
    lr, b1, b2, eps, wd = 0.05, 0.6, 0.7, 1e-2, 0.3
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        w = _decay(w, lr, wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    got = keras_steps("adamw", learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, weight_decay=wd)
    np.testing.assert_allclose(got, w, rtol=RTOL)


def test_adagrad_hyper_parameters():
    """Duchi et al.; Keras adds epsilon inside the square root: g / sqrt(acc + eps)."""
    lr, acc0, eps = 0.2, 0.5, 1e-2
    w, acc = W0.copy(), np.full(3, acc0)
    for g in GRADS:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
    got = keras_steps("adagrad", learning_rate=lr, initial_accumulator_value=acc0, epsilon=eps)
    np.testing.assert_allclose(got, w, rtol=RTOL)


@pytest.mark.parametrize("momentum", [None, 0.5])
def test_rmsprop_hyper_parameters(momentum):
    """Hinton's RMSprop with Keras' epsilon placement (inside the square root), and Keras'
    momentum form: m <- mu * m + lr * g / sqrt(avg + eps); w <- w - m."""
    lr, rho, eps = 0.05, 0.5, 1e-2
    w, avg, mom = W0.copy(), np.zeros(3), np.zeros(3)
    for g in GRADS:
        avg = rho * avg + (1 - rho) * g * g
        step = lr * g / np.sqrt(avg + eps)
        if momentum:
            mom = momentum * mom + step
            step = mom
        w = w - step
    got = keras_steps("rmsprop", learning_rate=lr, rho=rho, epsilon=eps, momentum=momentum)
    np.testing.assert_allclose(got, w, rtol=RTOL)


def test_adadelta_hyper_parameters():
    """Zeiler (2012), Algorithm 1, with a learning rate scaling the update as Keras does."""
    lr, rho, eps = 0.5, 0.6, 1e-2
    w, eg, edx = W0.copy(), np.zeros(3), np.zeros(3)
    for g in GRADS:
        eg = rho * eg + (1 - rho) * g * g
        dx = -np.sqrt(edx + eps) / np.sqrt(eg + eps) * g
        edx = rho * edx + (1 - rho) * dx * dx
        w = w + lr * dx
    np.testing.assert_allclose(keras_steps("adadelta", learning_rate=lr, rho=rho, epsilon=eps), w, rtol=RTOL)


@pytest.mark.parametrize(("schedule", "expected"), [
    ("exponential_decay", lambda lr, t: lr * 0.5 ** (t / 4)),
    ("cosine_decay", lambda lr, t: lr * 0.5 * (1 + np.cos(np.pi * min(t, 4) / 4))),
])
def test_learning_rate_schedules_change_the_step_as_written(schedule, expected):
    """Plain SGD with a schedule: each step moves the weight by lr(t) * g, so a schedule that was
    ignored (a constant rate) fails."""
    lr, g = 0.1, np.array([1.0, 1.0, 1.0])
    optimizer = get_optimizer(OptimizerSection(name="sgd", learning_rate=lr, schedule=schedule, decay_steps=4,
                                               decay_rate=0.5))
    var = keras.Variable(W0.astype(np.float32))
    w = W0.copy()
    for t in range(6):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype(np.float32)), var)])
        w = w - expected(lr, t) * g
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), w, rtol=RTOL)


def _model(**model):
    from components.trainer.model import build_model
    from pipelines.spec.models import TrainerSection

    cfg = TrainerSection(task="regression", model={"hidden_units": [8], **model})
    head = type("Head", (), {"units": 1, "activation": "linear", "loss": "mse", "label_coding": "value"})()
    return build_model(3, head, cfg)


def test_dropout_is_in_the_model_and_acts_only_in_training():
    x = np.ones((256, 3), dtype=np.float32)
    plain, dropped = _model(dropout=0.0), _model(dropout=0.5)
    assert not any("dropout" in layer.name for layer in plain.layers)
    assert any(layer.name.startswith("dropout") and layer.rate == 0.5 for layer in dropped.layers)
    np.testing.assert_allclose(dropped(x, training=False), dropped(x, training=False))
    assert not np.allclose(dropped(x, training=True), dropped(x, training=False))


def test_batch_norm_is_in_the_model_and_normalizes_in_training():
    plain, normed = _model(), _model(batch_norm=True)
    assert not any("batch_norm" in layer.name for layer in plain.layers)
    layer = next(layer for layer in normed.layers if layer.name.startswith("batch_norm"))
    hidden = keras.Model(normed.inputs, layer.output)
    x = np.random.default_rng(0).normal(5.0, 3.0, size=(512, 3)).astype(np.float32)
    out = keras.ops.convert_to_numpy(hidden(x, training=True))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-3)  # gamma 1, beta 0 at the start
    assert ((out.std(axis=0) > 0.9) & (out.std(axis=0) < 1.01)).all()  # < 1 only by BN's epsilon
