"""Choices that several commands share, spelt once (without importing torch, for a quick --help)."""

# Must list vsr.backends.BACKENDS and its pending GPU names; a test keeps them equal.
BACKEND_CHOICES = ["auto", "cpu", "cuda", "tensorrt", "openvino", "onnxruntime", "torch", "opencv-dnn", "bicubic"]
MODEL_HELP = "fast, balanced or espcn (see `vsr models`), or a weights file"
