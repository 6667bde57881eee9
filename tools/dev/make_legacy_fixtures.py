"""Write tests/fixtures/legacy/: files as the code of an older commit wrote them, so tests prove
that they still load. Run it with that commit's package on the path, e.g.

    git worktree add /tmp/old b2535d3
    PYTHONPATH=/tmp/old python tools/dev/make_legacy_fixtures.py tests/fixtures/legacy

Files (a tiny ResNet-18 family, 1-channel 16 px images):
  supernet.pth   DSPNet-style checkpoint: ``backbone.*`` keys, the config in ``meta.cfg``
  byol_r10_w05.pth  a network pretrained alone, ``type='SlimmableResNet', subnet='r10_w05'``
  slim_r10_w05.pth  ``tools/slim.py supernet.pth --subnet r10_w05`` as that commit wrote it
  gating.pth     dynamic-gating checkpoint (``GatedResNet``, dual BN stored as
                 ``subnet_bns.gated``), the config in ``meta.cfg``
  gated_branch.pth  ``tools/slim.py gating.pth --branch gated`` as that commit wrote it
  expected.pth   an input batch and the outputs of the networks on it
"""
import os
import subprocess
import sys

import torch

import dspnet_mm
from dspnet_mm.apis.slim import export_branch, slim
from dspnet_mm.models import GatedResNet, SlimmableResNet

SUBNETS = dict(r10_w05=dict(widths=0.5, depths=(1, 1, 1, 1)))
ARCH = dict(depth=18, in_channels=1, stem_channels=8, base_channels=8, small_input=True,
            out_indices=(3, ))


def cfg_text(backbone: dict) -> str:
    return f'model = dict(type="DSPNet", backbone={backbone!r})\n'


def randomized(net):
    torch.manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if 'running_var' in name else
                        torch.randn_like(t) * 0.2)
    return net.eval()


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True,
                            cwd=os.path.dirname(dspnet_mm.__file__)).stdout.strip()
    supernet_cfg = dict(type='SlimmableResNet', subnets=SUBNETS, **ARCH)
    supernet = randomized(SlimmableResNet(subnets=SUBNETS, **ARCH))
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in supernet.state_dict().items()},
                    meta=dict(cfg=cfg_text(supernet_cfg), written_by=commit)),
               os.path.join(out_dir, 'supernet.pth'))
    byol_cfg = dict(type='SlimmableResNet', subnets=SUBNETS, subnet='r10_w05', **ARCH)
    byol = randomized(SlimmableResNet(subnets=SUBNETS, subnet='r10_w05', **ARCH))
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in byol.state_dict().items()},
                    meta=dict(cfg=cfg_text(byol_cfg), written_by=commit)),
               os.path.join(out_dir, 'byol_r10_w05.pth'))
    slimmed = slim(os.path.join(out_dir, 'supernet.pth'), 'r10_w05',
                   out=os.path.join(out_dir, 'slim_r10_w05.pth'), force=True)
    gating_cfg = dict(type='GatedResNet', **ARCH)
    gating = randomized(GatedResNet(**ARCH))
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in gating.state_dict().items()},
                    meta=dict(cfg=cfg_text(gating_cfg), written_by=commit)),
               os.path.join(out_dir, 'gating.pth'))
    branch = export_branch(os.path.join(out_dir, 'gating.pth'), 'gated',
                           out=os.path.join(out_dir, 'gated_branch.pth'), force=True)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), supernet.set_subnet('r10_w05'):
        expected = dict(input=x, supernet_r10_w05=supernet(x)[0], byol_r10_w05=byol(x)[0],
                        gating_dense=gating(x, gated=False)[0],
                        gating_gated=gating(x, gated=True)[0],
                        slim_meta=slimmed['meta'], gated_branch_meta=branch['meta'],
                        written_by=commit)
    torch.save(expected, os.path.join(out_dir, 'expected.pth'))
    print(f'wrote {out_dir} with the code of {commit}')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/legacy')
