# VICReg (dense baseline) on a narrow CPU-sized ResNet-18: base width 32, 1-channel input,
# 3x3 stride-1 stem and stride 2 in every stage (28x28 -> 14, 7, 4, 2: 31 MFLOPs per image).
# A stock mmcls ResNet_CIFAR, the same shape as the GatedResNet of the gated configs.
model = dict(
    type='VICReg',
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(72.9, ), std=(90.0, ),
                           bgr_to_rgb=False),
    backbone=dict(type='mmcls.ResNet_CIFAR', depth=18, in_channels=1, stem_channels=32,
                  base_channels=32, strides=(2, 2, 2, 2), out_indices=(3, ),
                  zero_init_residual=False,
                  norm_cfg=dict(type='BN')),
    # the paper's 3-layer projector (2048-2048-2048 for ResNet-18), CPU-sized
    neck=dict(type='NonLinearNeck', in_channels=256, hid_channels=512, out_channels=512,
              num_layers=3, with_bias=True, with_last_bn=False, with_avg_pool=True,
              norm_cfg=dict(type='BN1d')),
    # solo-learn's loss, as the reference: variance v(a) + v(b), no /2 (one process: nothing to
    # gather)
    head=dict(type='VICRegHead',
              loss=dict(type='VICRegLoss', lambda_inv=25., mu=25., nu=1., gather=False,
                        average_variance=False)),
)
