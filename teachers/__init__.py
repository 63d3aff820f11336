"""teachers: BERT teachers.

Owns the Keras BERT encoder and its presets, loading pretrained weights (HF
safetensors, Google TF checkpoints), the teacher registry, classifiers on top
of the encoder, fine-tuning and tuning (on the training engine of
`distill.training`), and reading a saved teacher run. A teacher may also be
a folder the user brings (`folder`: Hugging Face BERT via `hf`, or Google
checkpoint), used as it is when already fine-tuned (`finetuned`, its head's
labels matched by `labels`), and a run can be written back as such a folder
(`export`); inference may run in bf16 (`precision`). Tokenization is the
foundation's (`distill.wordpiece`), shared with students.
"""
