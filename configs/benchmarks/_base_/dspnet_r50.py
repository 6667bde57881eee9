# What every DSPNet-R50 transfer config shares: the plugin import, the desired networks (the
# one table, configs/_base_/models/dspnet_r50_subnets.py, also read by configs/dspnet_r50.py)
# and the slimmed checkpoint, i.e.
#   python tools/slim.py work_dirs/dspnet_r50/epoch_300.pth --subnet r50_w05 \
#       --out work_dirs/slim/r50_w05.pth
# The transfer scripts (tools/benchmarks/transfer/*.sh) replace the checkpoint path; a config
# selects the network with `subnet=`, e.g. --cfg-options model.backbone.subnet=r50_w025.
_base_ = ['../../_base_/models/dspnet_r50_subnets.py']
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
slimmed_checkpoint = 'work_dirs/slim/r50_w05.pth'

# The backbone every FPN detector and dilated segmentor starts from (the C4 detector uses
# SlimmableResNetTrunk instead): mmselfsup's transfer protocol, SyncBN and nothing frozen.
# A config adds only what its protocol changes, e.g.
#   backbone=dict(**_base_.dspnet_r50_backbone, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
dspnet_r50_backbone = dict(
    _delete_=True,
    type='dspnet_mm.PlainResNet',
    depth=50,
    subnets=_base_.dspnet_r50_subnets,
    subnet='r50_w05',
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    norm_eval=False,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint=slimmed_checkpoint))
