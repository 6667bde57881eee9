# Plain BYOL (mmselfsup's) of ONE desired network with the fp32 quality recipe's data, views,
# network and schedule: the "pretrained one by one" baseline of
# configs/dspnet_r18_fmnist_quality_fp32.py.
#   python tools/train.py configs/byol_r18_fmnist_quality_fp32.py \
#       --cfg-options model.backbone.subnet=r18_w05
_base_ = ['dspnet_r18_fmnist_quality_fp32.py']
model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum={{_base_.model.base_momentum}},
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone=dict(type='PlainResNet', depth=18, in_channels=1, stem_channels=16,
                  base_channels=16, small_input=True, out_indices=(3, ),
                  subnets={{_base_.subnets}}, subnet='r18_w1'),
    neck={{_base_.model.neck}},
    head={{_base_.model.head}},
)
