"""Installs tfrec and the pinned stack it was verified with (Python 3.11)."""

from setuptools import find_packages, setup

setup(
    name="tfrec",
    version="0.1.0",
    description="Multimodal recommender on TensorFlow Recommenders, served by TF Serving",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tfrec", "tfrec.*"]),
    package_data={"tfrec": ["configs/*.yaml"]},
    install_requires=[
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        "tensorflow-recommenders==0.7.7",
        "keras-hub==0.32.0",
        "tensorflow-text==2.21.1",
        "tensorflow-hub==0.16.1",
        "tensorflow-serving-api==2.21.0",
        "tensorboard==2.21.0",
        "grpcio==1.85.3",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "pyarrow==26.0.1",
        "pillow==13.0.0",
        "matplotlib==3.11.2",
        "pyyaml==6.0.4",
        "safetensors==0.8.0",
        "scipy==1.17.1",
        "redis==6.4.0",
        "prometheus-client==0.26.0",
    ],
    extras_require={"dev": ["pytest==9.2.0", "hypothesis==6.155.2", "cryptography==50.0.2"]},
    entry_points={"console_scripts": ["tfrec=tfrec.cli:main"]},
)
