"""TensorRT engines built from the exported ONNX models (installed as vsr.engines).

Nothing is built here yet: the TensorRT backend is the GPU issue's work.
"""
