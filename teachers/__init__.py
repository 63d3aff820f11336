"""teachers: BERT teachers.

Owns the Keras BERT encoder and its presets, WordPiece tokenization, loading
pretrained weights (HF safetensors, Google TF checkpoints), the teacher
registry, classifiers on top of the encoder, fine-tuning and tuning.
"""
