"""tools/analyze_gating.py on a small gated checkpoint with known gate densities."""
import json
import os

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, load_tool, randomize_bn
from dspnet_mm.apis import CheckpointError
from dspnet_mm.models import GatedResNet

analyze_gating = load_tool('analyze_gating.py')

CFG = os.path.join(REPO, 'configs', 'vicreg-dual-gating_r18_fmnist.py')
DATA = os.path.join(REPO, 'data', 'fashion_mnist')
OPTIONS = ['model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
           f'train_dataloader.dataset.data_prefix={DATA}']


def quarter_gated_backbone():
    """The config's GatedResNet, narrow, whose gates keep the same 25% of every block."""
    cfg = Config.fromfile(CFG).model.backbone
    cfg.update(stem_channels=8, base_channels=8)
    cfg.pop('type')
    net = GatedResNet(**cfg)
    randomize_bn(net)
    g = torch.Generator().manual_seed(0)
    for blk in net.gated_blocks:
        w = blk.gate.expand.weight.data.abs() + 0.1
        keep = torch.zeros(w.size(0), dtype=torch.bool)
        keep[torch.randperm(w.size(0), generator=g)[:w.size(0) // 4]] = True
        w[~keep] *= -1
        blk.gate.expand.weight.data = w
        blk.gate.bn.bias.data.fill_(5.)  # hidden units > 0: logits carry the weight's sign
    return net.eval()


def reference_flops_quarter():
    """(F_full, F_real) of the narrow config network (1 x 28 x 28 input, widths 8/16/32/64,
    stride 2 in every stage) with a quarter of every block's channels on, counted by hand as
    the reference code counts (conv MACs; a gate costs C_in * C_in/4 + C_in/4 * planes)."""
    dense = real = 9 * 28 * 28 * 8 * 1  # stem: 3x3, stride 1, 28x28 maps
    inplanes = 8
    for planes, h in ((8, 14), (16, 7), (32, 4), (64, 2)):
        for first in (True, False):
            ds = h * h * planes * inplanes if first else 0
            dense += 9 * h * h * planes * inplanes + 9 * h * h * planes * planes + ds
            c = planes // 4
            real += (9 * h * h * c * inplanes + 9 * h * h * c * planes + ds
                     + inplanes * (inplanes // 4) + (inplanes // 4) * planes)
            inplanes = planes
    return dense, real


@pytest.fixture
def checkpoint(tmp_path):
    net = quarter_gated_backbone()
    sd = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    sd['sparsity_loss.p'] = torch.tensor(0.5)
    path = tmp_path / 'iter_10.pth'
    torch.save(dict(state_dict=sd, meta=dict(iter=10)), path)
    return net, str(path)


def test_reports_flops_density_knn_embeddings_and_latency(checkpoint, tmp_path, capsys):
    net, path = checkpoint
    out_dir = tmp_path / 'analysis'
    rc = analyze_gating.main([path, '--config', CFG, '--num-images', '64', '--batch-size', '32',
                              '--out-dir', str(out_dir), '--knn', '--knn-train', '300',
                              '--knn-test', '100', '--embedding-plot', 'pca', '--benchmark',
                              '--benchmark-images', '4', '--cfg-options', *OPTIONS])
    assert rc == 0
    with open(out_dir / 'results.json') as f:
        r = json.load(f)
    dense, expected = reference_flops_quarter()
    assert r['images'] == 64 and r['t_d'] == 0.3 and r['flops_convention'] == 'reference'
    assert r['flops_kept'] == pytest.approx(expected / dense)
    assert r['flops_reduction'] == pytest.approx(1 - expected / dense)
    assert r['flops_kept_std'] == pytest.approx(0., abs=1e-9)
    assert r['dense_mflops'] == pytest.approx(dense / 1e6)
    assert r['gated_mflops'] == pytest.approx(expected / 1e6)
    # our fuller count beside it: BN and pooling make both counts larger
    table = net.flops((1, 28, 28), 'mmengine')
    full = (table.all_off + sum(c // 4 * f for c, f in zip(table.channels,
                                                            table.channel_flops)))
    assert r['mmengine_count']['flops_kept'] == pytest.approx(full / table.dense)
    assert r['mmengine_count']['dense_mflops'] == pytest.approx(table.dense / 1e6)
    assert table.dense > dense
    assert list(r['density']) == ['layer1.0', 'layer1.1', 'layer2.0', 'layer2.1', 'layer3.0',
                                  'layer3.1', 'layer4.0', 'layer4.1']
    assert all(v == pytest.approx(0.25) for v in r['density'].values())
    assert 10 < r['knn']['dense_top1'] <= 100 and 10 < r['knn']['gated_top1'] <= 100
    assert r['knn']['train_images'] == 300 and r['knn']['test_images'] == 100
    lat = r['latency_batch1']
    assert lat['gated_sparse_ms'] > 0 and lat['gated_masked_ms'] > 0
    for name in ('channel_density.png', 'embeddings_pca.png'):
        assert (out_dir / name).stat().st_size > 1000
    printed = capsys.readouterr().out
    assert 'FLOPs R.' in printed and 'mmengine count' in printed and 'k-NN top-1' in printed


def untouched_gates_and_images(n):
    """The config's narrow GatedResNet with its initial (learned-looking) gates, in eval mode,
    and the first ``n`` test images."""
    net = GatedResNet(**{k: v for k, v in Config.fromfile(CFG).model.backbone.items()
                         if k != 'type'} | dict(stem_channels=8, base_channels=8))
    randomize_bn(net)
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in OPTIONS[2:]))
    return net.eval(), analyze_gating.ImageSet(cfg, test_mode=True, subset=n)


def test_gated_statistics_match_a_direct_computation():
    """Untouched (learned-looking) gates: the tool's mean equals per-image masks by hand."""
    net, images = untouched_gates_and_images(40)
    stats = analyze_gating.gated_statistics(net, images, batch_size=16)
    x, _ = images.tensors()
    with torch.no_grad():
        _, masks = net.forward_gated(x)
    kept = net.flops((1, 28, 28), 'reference').kept(masks)
    assert stats['flops_kept'] == pytest.approx(kept.double().mean().item(), rel=1e-5)
    kept = net.flops((1, 28, 28), 'mmengine').kept(masks)
    assert stats['mmengine_count']['flops_kept'] == pytest.approx(kept.double().mean().item(),
                                                                  rel=1e-5)
    assert 0 < stats['flops_kept_std']
    assert list(stats['density'].values()) == pytest.approx([m.mean().item() for m in masks],
                                                            rel=1e-5)


def test_batch_unions_match_a_direct_computation():
    """Learned-looking gates: union FLOPs, calibrated capacities, overflows and distinct masks
    by hand; gates that keep the same channels for every image: the union is the image."""
    net, images = untouched_gates_and_images(70)
    rows = analyze_gating.batch_unions(net, images, [1, 4, 16], multiple=4)
    x, _ = images.tensors()
    with torch.no_grad():
        _, masks = net.forward_gated(x)
    table = net.flops((1, 28, 28), 'reference')
    per_image = table.kept(masks).mean().item()
    for row, b in zip(rows, (1, 4, 16)):
        n = 70 // b * b
        unions = [torch.stack([m[i:i + b].amax(0) for i in range(0, n, b)]) for m in masks]
        kept = table.kept([u.repeat_interleave(b, 0) for u in unions]).mean().item()
        half = (n // b) // 2
        caps = [min(4 * -(-int(u[:half].sum(1).max()) // 4), u.size(1)) for u in unions]
        over = [any(u[i].sum() > c for u, c in zip(unions, caps)) for i in range(half, n // b)]
        keys = [tuple(torch.cat([m[i] for m in masks]).tolist()) for i in range(n)]
        own = sum(keys[j:j + b].count(k) == 1 for j in range(0, n, b) for k in keys[j:j + b])
        assert row['batch'] == b and row['batches'] == n // b
        assert row['flops_kept_per_image'] == pytest.approx(per_image, abs=1e-4)
        assert row['flops_kept_union'] == pytest.approx(kept, abs=1e-4)
        assert row['capacities'] == caps
        counts = [torch.ones(1, c) for c in caps]
        assert row['flops_kept_capacity'] == pytest.approx(
            ((table.kept([torch.cat([c, torch.zeros(1, u.size(1) - c.size(1))], 1)
                          for c, u in zip(counts, unions)])).item()), abs=1e-4)
        assert row['overflow_rate'] == pytest.approx(sum(over) / len(over), abs=1e-4)
        assert row['distinct_masks'] == pytest.approx(own / n, abs=1e-4)
        assert row['union_density'] == pytest.approx([u.mean().item() for u in unions],
                                                     abs=1e-4)
    assert rows[0]['flops_kept_union'] == pytest.approx(per_image, abs=1e-4)
    assert per_image < rows[1]['flops_kept_union'] < rows[2]['flops_kept_union']
    same = analyze_gating.batch_unions(quarter_gated_backbone(), images, [16])[0]
    assert same['flops_kept_union'] == pytest.approx(same['flops_kept_per_image'], abs=1e-4)
    assert same['distinct_masks'] == 0 and same['overflow_rate'] == 0
    with pytest.raises(ValueError, match='batch size 128: the split has only 70 images'):
        analyze_gating.batch_unions(net, images, [128])


def test_errors(checkpoint, tmp_path, capsys):
    """One ``error:`` line and exit status 2 for each bad input, before any image is read;
    ``--debug`` raises instead."""
    _, path = checkpoint
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'neck.fc0.weight': torch.zeros(1)}), bad)
    cases = [
        ([str(bad), '--config', CFG], 'does not hold the weights of the configured GatedResNet'),
        ([path, '--config', os.path.join(REPO, 'configs', 'vicreg_r18_fmnist.py')],
         'needs a GatedResNet'),
        ([path, '--config', CFG, '--num-images', '0'], '--num-images 0 must be > 0'),
        ([path, '--config', CFG, '--knn-k', '-3'], '--knn-k -3 must be > 0'),
        ([path, '--config', CFG, '--batch-unions', '8', '0'], '--batch-unions 0 must be > 0'),
        ([str(tmp_path / 'missing.pth'), '--config', CFG], 'does not exist'),
        ([path, '--config', str(tmp_path / 'nope.py')], "--config '"),
    ]
    for argv, message in cases:
        rc = analyze_gating.main(argv + ['--out-dir', str(tmp_path / 'out'),
                                         '--cfg-options', *OPTIONS])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith('error: ') and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / 'out' / 'results.json').exists()
    with pytest.raises(CheckpointError, match='needs a GatedResNet'):
        analyze_gating.main([path, '--config', os.path.join(REPO, 'configs',
                                                            'vicreg_r18_fmnist.py'),
                             '--debug', '--cfg-options', *OPTIONS])
