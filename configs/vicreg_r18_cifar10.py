# VICReg (dense baseline, "Baseline-1"), ResNet-18, CIFAR-10, 500 epochs, LARS, batch 256 x 2 GPUs:
#   bash tools/dist_train.sh configs/vicreg_r18_cifar10.py 2
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/vicreg_r18.py',
    '_base_/datasets/vicreg_cifar10.py',
    '_base_/schedules/vicreg_lars_500e.py',
]
custom_imports = dict(imports=['dspnet_mm'],
                      allow_failed_imports=False)
# solo-learn's CIFAR ResNet-18 (3x3 stride-1 stem padded by 2, no max-pool), as the gated configs
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             backbone=dict(type='ResNetCIFAR', stem_padding=2))
