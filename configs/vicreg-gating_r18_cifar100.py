# VICReg-Gating (single gated stream, "Baseline-2"), ResNet-18, CIFAR-100,
#   500 epochs, LARS, batch 256 x 2 GPUs:
#   bash tools/dist_train.sh configs/vicreg-gating_r18_cifar100.py 2
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/vicreg-gating_r18.py',
    '_base_/datasets/vicreg_cifar100.py',
    '_base_/schedules/vicreg_lars_500e.py',
]

t_d = 0.5  # FLOPs budget: fraction of the dense network's FLOPs kept by the gated pass
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             backbone=dict(small_input=True, stem_padding=2), sparsity_loss=dict(t_d=t_d))
