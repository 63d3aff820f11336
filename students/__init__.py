"""students: students distilled from a materials file.

Owns the student architectures (`archs`: the built-in Kim (2014) CNN and
Tang et al.'s BiLSTM, and any Keras model a user brings), the distillation
losses, the lazy Adam that trains a student's word-vector corrections,
student training and the text-in export for prediction. A student knows
only its materials file, never the teacher code.
"""
