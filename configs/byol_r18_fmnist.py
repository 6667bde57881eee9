# Plain BYOL (mmselfsup's own algorithm) pretraining ONE desired network of the DSPNet family,
# with the same data, views and schedule: the paper's "pretrained one by one" baseline.
#   python tools/train.py configs/byol_r18_fmnist.py --cfg-options model.backbone.subnet=r18_w05
_base_ = ['dspnet_r18_fmnist.py']
model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum=0.99,
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone=dict(type='PlainResNet', depth=18, in_channels=1, stem_channels=16,
                  base_channels=16, small_input=True, out_indices=(3, ),
                  subnets={{_base_.subnets}}, subnet='r18_w1'),
    neck={{_base_.model.neck}},
    head={{_base_.model.head}},
)
