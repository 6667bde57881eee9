# VICReg (dense baseline, "Baseline-1"), ResNet-18, ImageNet-100,
#   500 epochs, LARS, batch 256 x 2 GPUs:
#   bash tools/dist_train.sh configs/vicreg_r18_in100.py 2
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/vicreg_r18.py',
    '_base_/datasets/vicreg_in100.py',
    '_base_/schedules/vicreg_lars_500e.py',
]

model = dict(data_preprocessor={{_base_.data_preprocessor}})
