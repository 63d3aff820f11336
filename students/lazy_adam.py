"""Adam that updates only the table rows a batch looked up.

Owns `LazyAdam`. Keras' Adam turns a lookup table's sparse gradient (the rows
a batch used) into a dense update of the whole table, its moments included, on
every step: for a student's trainable word-vector correction (13,535 x 384 on
rt-polarity, `students.kim_cnn` mode `delta`) that costs more than the
convolutions themselves (`bench/student_train_modes.py`). `LazyAdam` applies
Adam's rule to the looked-up rows only and leaves every other row, and its
moments, as they were: the "lazy" Adam of TensorFlow Addons and PyTorch's
SparseAdam. A row's moments then decay only on the steps that use it, which is
the point (a rare word keeps its momentum) and the one difference from Adam;
dense gradients (the convolutions, the classifier) get Keras' Adam unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="distill")
class LazyAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, with sparse (`tf.IndexedSlices`) gradients applied row by row."""

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, dtype), position, tf.shape(rows)[0])
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
