# VICReg (dense baseline) with a ResNet-18 for the paper-scale runs: 3-channel input, SyncBN
# (reverted to BN by the Runner outside distributed runs), the paper's 2048-2048-2048
# projector, and solo-learn's VICReg loss as the reference uses it (solo/losses/vicreg.py):
# variance term v(a) + v(b) (no /2), every term on each GPU's own batch (no gather).
# CIFAR configs swap in ResNetCIFAR with solo-learn's stem (3x3, stride 1, padding 2).
model = dict(
    type='VICReg',
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375), bgr_to_rgb=True),
    backbone=dict(type='mmcls.ResNet', depth=18, in_channels=3, out_indices=(3, ),
                  zero_init_residual=False, norm_cfg=dict(type='SyncBN')),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=2048, out_channels=2048,
              num_layers=3, with_bias=True, with_last_bn=False, with_avg_pool=True,
              norm_cfg=dict(type='SyncBN')),
    head=dict(type='VICRegHead',
              loss=dict(type='VICRegLoss', lambda_inv=25., mu=25., nu=1., gather=False,
                        average_variance=False)),
)
# stop with the iteration and the term on a NaN/Inf loss, before a checkpoint of it is written
custom_hooks = [dict(type='NonFiniteLossHook')]
