"""teachers: BERT teachers.

Owns the Keras BERT encoder and its presets, loading pretrained weights (HF
safetensors, Google TF checkpoints), the teacher registry, classifiers on top
of the encoder, fine-tuning and tuning (on the training engine of
`distill.training`), and reading a saved teacher run. Tokenization is the
foundation's (`distill.wordpiece`), shared with students.
"""
