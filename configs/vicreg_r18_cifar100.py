# VICReg (dense baseline, "Baseline-1"), ResNet-18, CIFAR-100, 500 epochs, LARS, batch 256 x 2 GPUs:
#   bash tools/dist_train.sh configs/vicreg_r18_cifar100.py 2
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/vicreg_r18.py',
    '_base_/datasets/vicreg_cifar100.py',
    '_base_/schedules/vicreg_lars_500e.py',
]
# mmcls.ResNet_CIFAR: 3x3 stride-1 stem, no max-pool
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             backbone=dict(type='mmcls.ResNet_CIFAR'))
