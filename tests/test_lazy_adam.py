"""students.lazy_adam: Adam on the rows a batch looked up, Keras' Adam on everything else."""

import keras
import numpy as np
import tensorflow as tf

from students.lazy_adam import LazyAdam

ROWS, DIM = 10, 4
RNG = np.random.default_rng(0)
INIT = RNG.normal(size=(ROWS, DIM)).astype(np.float32)
W = RNG.normal(size=(DIM, 1)).astype(np.float32)


def _train(optimizer, steps, dense_gradient=False):
    """The table after `steps` (lists of looked-up ids) of a squared-error loss through a lookup."""
    table = keras.Variable(INIT.copy())
    optimizer.build([table])

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.gather(table.value, ids) @ W - 1.0))
        (gradient,) = tape.gradient(loss, [table.value])
        if dense_gradient:
            gradient = tf.convert_to_tensor(gradient)
        optimizer.apply_gradients([(gradient, table)])
        return gradient

    kinds = {type(step(tf.constant(ids, tf.int32))).__name__ for ids in steps}
    return table.numpy(), optimizer, kinds


def test_when_every_row_is_looked_up_it_is_adam():
    steps = [list(range(ROWS))] * 4
    lazy, _, kinds = _train(LazyAdam(learning_rate=0.1), steps)
    assert kinds == {"IndexedSlices"}   # the sparse path was taken
    dense, _, _ = _train(keras.optimizers.Adam(learning_rate=0.1), steps, dense_gradient=True)
    np.testing.assert_allclose(lazy, dense, atol=1e-5)


def test_repeated_ids_add_up_before_the_moments_as_in_adam_on_the_dense_gradient():
    steps = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3]] * 4
    lazy, _, _ = _train(LazyAdam(learning_rate=0.1), steps)
    dense, _, _ = _train(keras.optimizers.Adam(learning_rate=0.1), steps, dense_gradient=True)
    np.testing.assert_allclose(lazy, dense, atol=1e-5)


def test_rows_no_batch_looked_up_keep_their_values_and_moments():
    lazy, optimizer, _ = _train(LazyAdam(learning_rate=0.1), [[1, 2, 2]] * 3)
    untouched = [0, 3, 4, 5, 6, 7, 8, 9]
    np.testing.assert_array_equal(lazy[untouched], INIT[untouched])
    assert np.abs(lazy[[1, 2]] - INIT[[1, 2]]).min() > 0.05
    for moments in (optimizer._momentums[0], optimizer._velocities[0]):
        np.testing.assert_array_equal(moments.numpy()[untouched], 0.0)
    # Keras' Adam moves every row once its moments are non-zero... and here, from the first step,
    # rows 1 and 2 only, since the others' gradients are 0: the difference shows in later steps
    dense, _, _ = _train(keras.optimizers.Adam(learning_rate=0.1), [[1, 2, 2]] * 2 + [[5]])
    lazy2, _, _ = _train(LazyAdam(learning_rate=0.1), [[1, 2, 2]] * 2 + [[5]])
    assert not np.allclose(dense[[1, 2]], lazy2[[1, 2]])   # Adam kept moving them on momentum; lazy did not


def test_dense_gradients_are_keras_adams():
    steps = [list(range(ROWS))] * 3
    lazy, _, kinds = _train(LazyAdam(learning_rate=0.05), steps, dense_gradient=True)
    assert kinds == {"EagerTensor"} or kinds == {"Tensor"}
    dense, _, _ = _train(keras.optimizers.Adam(learning_rate=0.05), steps, dense_gradient=True)
    np.testing.assert_array_equal(lazy, dense)
