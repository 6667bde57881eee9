# DSPNet on a narrow ResNet-18 family (base width 16, CIFAR-style stem, 1-channel input),
# sized so that pretraining on Fashion-MNIST takes about 15 minutes on 2 CPU cores.
subnets = dict(
    r18_w1=dict(widths=1.0, depths=(2, 2, 2, 2)),
    r18_w075=dict(widths=0.75, depths=(2, 2, 2, 2)),
    r18_w05=dict(widths=0.5, depths=(2, 2, 2, 2)),
    r10_w05=dict(widths=0.5, depths=(1, 1, 1, 1)),
    r18_w025=dict(widths=0.25, depths=(2, 2, 2, 2)),
)
model = dict(
    type='DSPNet',
    base_momentum=0.99,
    num_random=2,
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=(72.9, ), std=(90.0, ),
                           bgr_to_rgb=False),
    backbone=dict(type='SlimmableResNet', depth=18, in_channels=1, stem_channels=16,
                  base_channels=16, small_input=True, out_indices=(3, ), subnets=subnets,
                  norm_cfg=dict(type='BN')),
    neck=dict(type='SlimmableNonLinearNeck', in_channels=128, hid_channels=512,
              out_channels=128, num_layers=2, with_bias=True, with_last_bn=False,
              with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    head=dict(type='LatentPredictHead',
              predictor=dict(type='NonLinearNeck', in_channels=128, hid_channels=512,
                             out_channels=128, num_layers=2, with_bias=True,
                             with_last_bn=False, with_avg_pool=False,
                             norm_cfg=dict(type='BN1d')),
              loss=dict(type='CosineSimilarityLoss')),
)
