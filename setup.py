"""dspnet_mm: slimmable (DSPNet) and dynamic-gating (VICReg) self-supervised pretraining for
the OpenMMLab stack.

mmcv 2.0.1 with compiled ops has no wheel on PyPI; ``bash tools/install.sh`` builds it before
installing this package (see README).
"""
from setuptools import find_packages, setup

setup(
    name='dspnet_mm',
    version='0.1.0',
    description='DSPNet and dynamic-gating VICReg for mmselfsup 1.0',
    packages=find_packages(include=['dspnet_mm', 'dspnet_mm.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmengine>=0.10.7,<1.0',
        'mmcv>=2.0.1,<2.1.0',       # mmselfsup 1.0.0 / mmcls 1.0.0rc6 assert < 2.1.0
        'mmcls==1.0.0rc6',
        'mmselfsup==1.0.0',
        'mmdet==3.3.0',
        'mmsegmentation==1.2.2',
        'ftfy',                      # imported by mmseg 1.2.2 but not declared
        'regex',                     # idem
        'pycocotools',
        'matplotlib',
        'numpy',
        'setuptools>=77,<82',        # mmcv/mmengine import pkg_resources (removed in 82)
    ],
    extras_require={
        # tools/pick.py --runtime onnxruntime / --export-onnx (torch's ONNX exporter needs
        # onnxscript); in tests too, so CI covers the round trip
        'deploy': ['onnx>=1.17', 'onnxscript>=0.5', 'onnxruntime>=1.20'],
        'tests': ['pytest', 'pytest-timeout', 'onnx>=1.17', 'onnxscript>=0.5',
                  'onnxruntime>=1.20'],
        'umap': ['umap-learn'],
    },
)
