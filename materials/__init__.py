"""materials: teaching materials.

Owns the HDF5 materials file: its schema and validation, generating it from a
fine-tuned teacher (whole, or in shards that merge into the same file),
transfer-set augmentation, and reading it back as tf.data for students. No
other package knows the HDF5 layout.
"""
