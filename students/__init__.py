"""students: CNN students distilled from a materials file.

Owns the Kim (2014) CNN, the distillation losses, the lazy Adam that trains
a student's word-vector corrections, student training and the text-in
export for prediction. A student knows only its materials file, never
the teacher code.
"""
