"""TensorRT engines built from the exported ONNX models (installed as vsr.engines).

tensorrt.py builds an engine per model, frame size and precision and caches it by all it
depends on. It is written against TensorRT 10's Python API and was not run here.
"""
