"""Gating analysis of a dynamic-gating checkpoint (``tools/analyze_gating.py``,
``tools/benchmarks/fmnist_gating.py``): FLOPs kept per image in the reference's count and
mmengine's, per-block channel density, dense/gated features, batch-1 latency, plots."""
import time
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope

from dspnet_mm.models import GatedResNet
from dspnet_mm.models.gating.gated_flops import FLOPS_CONVENTIONS
from dspnet_mm.registry import MODELS
from .backbone import backbone_state_dict, load_weights
from .checkpoint import CheckpointError, load_checkpoint_safely
from .evaluation import ImageSet


def load_gated_backbone(checkpoint: str, cfg: Config) -> GatedResNet:
    """The checkpoint's GatedResNet as configured by ``cfg`` (a loaded config, overrides
    merged), in eval mode; keys with the ``backbone.`` or ``module.backbone.`` prefix."""
    backbone_cfg = dict(cfg.model.backbone)
    backbone_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        backbone = MODELS.build(backbone_cfg)
    if not isinstance(backbone, GatedResNet):
        raise CheckpointError(f'{checkpoint}: the config\'s backbone is a '
                              f'{type(backbone).__name__}; gating analysis needs a GatedResNet '
                              '(a VICReg-Gating or VICReg-Dual-Gating config)')
    load_weights(backbone, backbone_state_dict(load_checkpoint_safely(checkpoint)), checkpoint,
                 f'GatedResNet(depth={backbone.depth})')
    return backbone.eval()


def flops_summary(table, per_image: torch.Tensor) -> Dict:
    """MFLOPs of the dense network and the gates, mean gated MFLOPs, kept and "FLOPs R." (the
    reference's ``flops_per`` / ``1 - flops_per``: mean F_real over the images / F_full)."""
    kept = per_image / table.dense
    return dict(dense_mflops=table.dense / 1e6, gate_mflops=table.gates / 1e6,
                gated_mflops=per_image.mean().item() / 1e6, flops_kept=kept.mean().item(),
                flops_kept_std=kept.std().item(), flops_reduction=1 - kept.mean().item())


@torch.no_grad()
def gated_statistics(backbone: GatedResNet, images: ImageSet, batch_size: int) -> Dict:
    """FLOPs of the gated branch per image in both counts (the reference's at the top level,
    mmengine's under ``mmengine_count``) and the per-block mean channel density."""
    per_image = {c: [] for c in FLOPS_CONVENTIONS}
    density_sum, count, shape = None, 0, None
    for x, _ in images.batches(batch_size):
        shape = tuple(x.shape[1:])
        _, masks = backbone.forward_gated(x)
        for c in FLOPS_CONVENTIONS:
            per_image[c].append(backbone.flops(shape, c).per_image(masks))
        sums = torch.stack([m.double().mean(1).sum() for m in masks])
        density_sum = sums if density_sum is None else density_sum + sums
        count += x.size(0)
    names = [f'layer{i + 1}.{j}' for i, name in enumerate(backbone.res_layers)
             for j in range(len(getattr(backbone, name)))]
    out = dict(images=count, input_shape=list(shape), flops_convention='reference')
    out.update(flops_summary(backbone.flops(shape, 'reference'),
                             torch.cat(per_image['reference'])))
    out['mmengine_count'] = flops_summary(backbone.flops(shape, 'mmengine'),
                                          torch.cat(per_image['mmengine']))
    out['density'] = {n: d.item() / count for n, d in zip(names, density_sum)}
    return out


@torch.no_grad()
def batch_unions(backbone: GatedResNet, images: ImageSet, batch_sizes, multiple: int = 8
                 ) -> List[Dict]:
    """What a batch computes when its images share one set of channels per block (the union
    of their masks: ``sparse_conv2``, or ``set_capacities`` with capacities calibrated on
    half the batches), against what each image alone keeps. Per batch size:
    ``flops_kept_per_image`` (the gated branch's mean, the FLOPs ratio's limit),
    ``flops_kept_union`` (every image computes its batch's union), ``flops_kept_capacity``
    (capacities from the first half of the batches, the most any batch needed there, rounded
    up to ``multiple``), ``overflow_rate`` (share of the other half's batches that outgrow
    them and would be computed twice), ``distinct_masks`` (mean share of a batch's images
    whose masks over all blocks differ from every other's: 1 = nothing to group) and
    ``union_density`` per block. Reference FLOPs count (conv MACs and the gates)."""
    masks_of = []  # per image batch of 256 (a multiple of every batch size asked for): masks
    shape = None
    for x, _ in images.batches(256):
        shape = tuple(x.shape[1:])
        masks_of.append([m.bool() for m in backbone.forward_gated(x)[1]])
    masks = [torch.cat(ms) for ms in zip(*masks_of)]  # per block (N, C_mid)
    table = backbone.flops(shape, 'reference')
    per_image = table.kept([m.float() for m in masks]).mean().item()
    rows = []
    for b in batch_sizes:
        n = masks[0].size(0) // b * b  # whole batches only
        if n == 0:
            raise ValueError(f'batch size {b}: the split has only {masks[0].size(0)} images')
        grouped = [m[:n].view(n // b, b, -1) for m in masks]  # (batches, b, C_mid)
        unions = [g.any(1) for g in grouped]  # (batches, C_mid)
        union_kept = table.kept([u.repeat_interleave(b, 0).float() for u in unions])
        half = max(1, len(unions[0]) // 2)
        caps = [min(-(-int(u[:half].sum(1).max()) // multiple) * multiple, u.size(1))
                for u in unions]
        capacity_masks = [torch.arange(u.size(1)) < c for c, u in zip(caps, unions)]
        overflow = torch.stack([u[half:].sum(1) > c for c, u in zip(caps, unions)]).any(0)
        patterns = torch.cat(grouped, 2)  # (batches, b, all channels)
        distinct = sum(int((torch.cdist(p.float(), p.float(), p=0) == 0).sum(1).eq(1).sum())
                       for p in patterns) / n
        rows.append(dict(
            batch=b, batches=len(unions[0]),
            flops_kept_per_image=round(per_image, 4),
            flops_kept_union=round(union_kept.mean().item(), 4),
            flops_kept_capacity=round(table.kept([c.float()[None] for c in capacity_masks])
                                      .item(), 4),
            capacities=caps,
            overflow_rate=round(overflow.float().mean().item(), 4) if len(overflow) else None,
            distinct_masks=round(distinct, 4),
            union_density=[round(u.float().mean().item(), 4) for u in unions]))
    return rows


@torch.no_grad()
def features(backbone: GatedResNet, images: ImageSet, batch_size: int):
    """Global-average-pooled last-stage features of both branches (N, C) and labels (N,)."""
    dense, gated, labels = [], [], []
    for x, y in images.batches(batch_size):
        dense.append(F.adaptive_avg_pool2d(backbone(x, gated=False)[-1], 1).flatten(1))
        gated.append(F.adaptive_avg_pool2d(backbone(x, gated=True)[-1], 1).flatten(1))
        labels.append(y)
    return torch.cat(dense), torch.cat(gated), torch.cat(labels)


@torch.no_grad()
def benchmark(backbone: GatedResNet, images: ImageSet, n: int, threads: int = 1
              ) -> Dict[str, float]:
    """Median batch-1 latency (ms) of the dense branch and of the gated branch computed
    sparsely and as dense x mask, over the first ``n`` images; the three variants alternate
    image by image (same machine load), after 2 warm-up images."""
    xs = [x[i:i + 1] for x, _ in images.batches(n) for i in range(len(x))][:n]
    variants = dict(dense=(False, False), gated_masked=(True, False), gated_sparse=(True, True))
    times = {name: [] for name in variants}
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i, x in enumerate(xs[:2] + xs):
            for name, (gated, sparse) in variants.items():
                backbone.set_sparse_inference(sparse)
                t = time.perf_counter()
                backbone(x, gated=gated)
                if i >= 2:
                    times[name].append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(saved_threads)
        backbone.set_sparse_inference(True)
    result = {f'{k}_ms': 1000 * sorted(v)[len(v) // 2] for k, v in times.items()}
    result['speedup_sparse_vs_masked'] = result['gated_masked_ms'] / result['gated_sparse_ms']
    result['threads'] = threads
    return result


def plot_density(density: Dict[str, float], t_d, path: str):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(density)), 3.5))
    ax.bar(range(len(density)), list(density.values()), color='tab:blue')
    if t_d is not None:
        ax.axhline(t_d, color='tab:red', linestyle='--', label=f't_d = {t_d}')
        ax.legend()
    ax.set_xticks(range(len(density)))
    ax.set_xticklabels(list(density), rotation=60, ha='right', fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel('mean channel density')
    ax.set_title('Gated branch: fraction of middle channels computed per block')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_embeddings(dense, gated, labels, method: str, path: str):
    """2-D map of the dense and gated embeddings of the same images, fitted jointly."""
    both = F.normalize(torch.cat([dense, gated]), dim=1).numpy()
    if method == 'umap':
        try:
            import umap
        except ImportError as e:
            raise ImportError('--embedding-plot umap needs umap-learn: pip install umap-learn '
                              '(or use --embedding-plot pca)') from e
        xy = umap.UMAP(n_components=2, random_state=0).fit_transform(both)
    else:
        from sklearn.decomposition import PCA
        xy = PCA(n_components=2, random_state=0).fit_transform(both)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    n = len(dense)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    for ax, (name, part) in zip(axes, [('dense', xy[:n]), ('gated', xy[n:])]):
        ax.scatter(part[:, 0], part[:, 1], c=labels.numpy(), cmap='tab10', s=4)
        ax.set_title(f'{name} branch ({method.upper()})')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(r: Dict) -> str:
    lines = [f"{r['split']} split, {r['images']} images of shape {r['input_shape']}, "
             f"t_d = {r['t_d']}",
             f"dense network: {r['dense_mflops']:.2f} MFLOPs; gated branch: "
             f"{r['gated_mflops']:.2f} MFLOPs per image on average (gates "
             f"{r['gate_mflops']:.3f}); conv multiply-accumulates, counted as the reference",
             f"FLOPs kept: {100 * r['flops_kept']:.1f}% (std {100 * r['flops_kept_std']:.1f}), "
             f"FLOPs R.: {100 * r['flops_reduction']:.1f}%",
             f"mmengine count (BN and pooling too): dense "
             f"{r['mmengine_count']['dense_mflops']:.2f} MFLOPs, FLOPs kept "
             f"{100 * r['mmengine_count']['flops_kept']:.1f}%, reduction "
             f"{100 * r['mmengine_count']['flops_reduction']:.1f}%",
             'channel density per block: ' + ', '.join(
                 f'{k} {v:.2f}' for k, v in r['density'].items())]
    if 'knn' in r:
        k = r['knn']
        lines.append(f"k-NN top-1 (k={k['k']}, {k['train_images']} train / "
                     f"{k['test_images']} test): dense {k['dense_top1']:.2f}%, "
                     f"gated {k['gated_top1']:.2f}%")
    for u in r.get('batch_unions', ()):
        lines.append(f"batch {u['batch']}: FLOPs kept per image {100 * u['flops_kept_per_image']:.1f}%, "
                     f"by the batch's union {100 * u['flops_kept_union']:.1f}%, by static "
                     f"capacities {100 * u['flops_kept_capacity']:.1f}% (batches outgrowing "
                     f"them: {100 * (u['overflow_rate'] or 0):.1f}%); images with a mask of "
                     f"their own: {100 * u['distinct_masks']:.1f}%")
    if 'latency_batch1' in r:
        b = r['latency_batch1']
        lines.append(f"batch-1 latency ({b['threads']} threads): dense {b['dense_ms']:.2f} ms, "
                     f"gated dense x mask {b['gated_masked_ms']:.2f} ms, gated sparse "
                     f"{b['gated_sparse_ms']:.2f} ms ({b['speedup_sparse_vs_masked']:.2f}x)")
    return '\n'.join(lines)
