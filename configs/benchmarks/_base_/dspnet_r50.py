# What every DSPNet-R50 transfer config shares: the plugin import, the desired networks of
# configs/dspnet_r50.py (a test keeps the two tables equal) and the slimmed checkpoint, i.e.
#   python tools/slim.py work_dirs/dspnet_r50/epoch_300.pth --subnet r50_w05 \
#       --out work_dirs/slim/r50_w05.pth
# The transfer scripts (tools/benchmarks/transfer/*.sh) replace the checkpoint path; a config
# selects the network with `subnet=`, e.g. --cfg-options model.backbone.subnet=r50_w025.
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
dspnet_r50_subnets = dict(
    r50_w1=dict(widths=1.0, depths=(3, 4, 6, 3)),
    r50_w075=dict(widths=0.75, depths=(3, 4, 6, 3)),
    r50_w05=dict(widths=0.5, depths=(3, 4, 6, 3)),
    r50_w025=dict(widths=0.25, depths=(3, 4, 6, 3)),
    r26_w05=dict(widths=0.5, depths=(2, 2, 2, 2)),
)
slimmed_checkpoint = 'work_dirs/slim/r50_w05.pth'
