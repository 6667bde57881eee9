# The desired networks of DSPNet-R50: R50 at four widths and a reduced-depth member. The one
# table read by configs/dspnet_r50.py (model.backbone.subnets) and by every transfer config
# (configs/benchmarks/_base_/dspnet_r50.py).
dspnet_r50_subnets = dict(
    r50_w1=dict(widths=1.0, depths=(3, 4, 6, 3)),
    r50_w075=dict(widths=0.75, depths=(3, 4, 6, 3)),
    r50_w05=dict(widths=0.5, depths=(3, 4, 6, 3)),
    r50_w025=dict(widths=0.25, depths=(3, 4, 6, 3)),
    r26_w05=dict(widths=0.5, depths=(2, 2, 2, 2)),
)
