"""VICRegLoss against a direct implementation of the formula; the sparsity loss."""
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import REPO
from dspnet_mm.models.losses import (SparsityLoss, VICRegLoss, density_bound_loss,
                                     flops_budget_loss)
from dspnet_mm.models.gating.gated_flops import GatedFlops


def vicreg_by_the_formula(z, zp, lam=25., mu=25., nu=1., halve_variance=True):
    """The paper's equation with explicit loops over dimensions (no shared code);
    ``halve_variance=False`` is solo-learn's ``vicreg_loss_func`` (``variance_loss`` returns
    ``mean(relu(1 - std_z1)) + mean(relu(1 - std_z2))``, no /2)."""
    n, d = z.shape
    inv = sum(((z[i] - zp[i]) ** 2).sum() for i in range(n)) / (n * d)

    def v(x):
        total = 0.
        for j in range(d):
            col = x[:, j]
            var = ((col - col.mean()) ** 2).sum() / (n - 1)
            total = total + torch.clamp(1 - torch.sqrt(var + 1e-4), min=0)
        return total / d

    def c(x):
        xc = x - x.mean(0)
        total = 0.
        for j in range(d):
            for k in range(d):
                if j != k:
                    total = total + ((xc[:, j] * xc[:, k]).sum() / (n - 1)) ** 2
        return total / d

    return lam * inv + mu * (v(z) + v(zp)) / (2 if halve_variance else 1) + nu * (c(z) + c(zp))


@pytest.mark.parametrize('scale', [0.1, 3.0])  # variance hinge active / inactive
def test_vicreg_matches_the_formula(scale):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 6, generator=g, dtype=torch.float64) * scale
    zp = z + 0.3 * torch.randn(16, 6, generator=g, dtype=torch.float64)
    z.requires_grad_(True)
    loss, terms = VICRegLoss()(z, zp, return_terms=True)
    expected = vicreg_by_the_formula(z, zp)
    assert torch.allclose(loss, expected, rtol=1e-10)
    # gradients agree too
    g1, = torch.autograd.grad(loss, z)
    g2, = torch.autograd.grad(vicreg_by_the_formula(z, zp), z)
    assert torch.allclose(g1, g2, rtol=1e-8)
    assert set(terms) == {'invariance', 'variance', 'covariance'}
    assert (terms['variance'] > 0) == (scale < 1)


@pytest.mark.parametrize('average', [True, False])
def test_variance_forms_match_their_formulas(average):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(12, 5, generator=g, dtype=torch.float64) * 0.2  # hinge active
    zp = torch.randn(12, 5, generator=g, dtype=torch.float64) * 0.5
    loss = VICRegLoss(average_variance=average)(z, zp)
    assert torch.allclose(loss, vicreg_by_the_formula(z, zp, halve_variance=average),
                          rtol=1e-10)
    other = vicreg_by_the_formula(z, zp, halve_variance=not average)
    assert not torch.allclose(loss, other, rtol=1e-3)  # the two forms differ here


def test_vicreg_coefficients_and_known_values():
    z = torch.tensor([[1., 0.], [-1., 0.]])
    loss = VICRegLoss(lambda_inv=0., mu=1., nu=0.)
    # column 0 has variance 2 (std > 1: no penalty); column 1 is constant: relu(1 - 0.01)
    assert loss(z, z).item() == pytest.approx(0.99 / 2)
    assert VICRegLoss(lambda_inv=1., mu=0., nu=0.)(z, z + 2).item() == pytest.approx(4.)
    # perfectly correlated columns: Cov = [[1, 1], [1, 1]] -> off-diagonal 2 / D = 1 per view
    zc = torch.tensor([[1., 1.], [-1., -1.], [0., 0.]])
    assert VICRegLoss(lambda_inv=0., mu=0., nu=1.)(zc, zc).item() == pytest.approx(2.)


DDP_SCRIPT = textwrap.dedent('''
    import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
    from dspnet_mm.models.losses import VICRegLoss

    def run(rank, world, port, out):
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        dist.init_process_group('gloo', rank=rank, world_size=world)
        g = torch.Generator().manual_seed(0)
        z, zp = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
        rows = slice(rank * 4, rank * 4 + 4)
        za = z[rows].clone().requires_grad_(True)
        loss = VICRegLoss(gather=sys.argv[3] == 'gather')(za, zp[rows])
        loss.backward()
        torch.save(dict(loss=loss.detach(), grad=za.grad), f'{out}/rank{rank}.pth')
        dist.destroy_process_group()

    if __name__ == '__main__':
        # fork: the children reuse the parent's imports (spawn would import the stack twice)
        mp.start_processes(run, args=(2, int(sys.argv[1]), sys.argv[2]), nprocs=2,
                           start_method='fork')
''')


def test_ddp_gathers_variance_and_covariance_across_ranks(tmp_path):
    """Two gloo processes with half a batch each: the variance/covariance terms see the whole
    batch, and the gradient on each rank is world_size x the single-process gradient of its
    rows (DDP's averaging then gives exactly the single-process update)."""
    script = tmp_path / 'ddp_vicreg.py'
    script.write_text(DDP_SCRIPT)
    port = 29500 + os.getpid() % 1000
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, str(script), str(port), str(tmp_path), 'gather'],
                   check=True, env=env, timeout=300)
    g = torch.Generator().manual_seed(0)
    z, zp = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    z.requires_grad_(True)
    full = VICRegLoss(gather=False)
    full_loss = full(z, zp)
    full_loss.backward()
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in range(2)]
    # each rank's loss: its local invariance + the global variance/covariance
    local_inv = [torch.nn.functional.mse_loss(z[r * 4:r * 4 + 4], zp[r * 4:r * 4 + 4])
                 for r in range(2)]
    for r, res in enumerate(ranks):
        expected = full_loss - 25 * (sum(local_inv) / 2 - local_inv[r])
        assert torch.allclose(res['loss'], expected.detach(), atol=1e-5)
        assert torch.allclose(res['grad'], 2 * z.grad[r * 4:r * 4 + 4], atol=1e-5)


def test_flops_budget_loss_is_zero_at_the_budget_and_grows_on_both_sides():
    t_d = 0.4
    at = flops_budget_loss(torch.tensor([0.3, 0.5]), t_d)  # mean 0.4
    assert at.item() == pytest.approx(0.)
    values = [flops_budget_loss(torch.tensor([k]), t_d).item()
              for k in (0.0, 0.2, 0.4, 0.6, 0.9)]
    assert values[0] > values[1] > values[2] < values[3] < values[4]
    assert values[2] == pytest.approx(0.)
    assert values[1] == pytest.approx(0.04) and values[3] == pytest.approx(0.04)


def test_density_bound_loss_anneals():
    # t_d = 0.36 (sqrt 0.6): the upper bound 1 - p + p sqrt(t_d) differs from plausible wrong
    # forms such as 1 - p sqrt(t_d) (0.4 at p = 1) or p sqrt(t_d) + (1 - p) t_d
    t_d = 0.36
    d = torch.tensor([0.1, 0.5, 0.9])
    # p = 1: both bounds at 0.6; the layers pay 0.5^2, 0.1^2 and 0.3^2
    assert density_bound_loss(d, t_d, 1.).item() == pytest.approx((0.25 + 0.01 + 0.09) / 3)
    # p = 0: the bounds are [0, 1], nothing to pay
    assert density_bound_loss(d, t_d, 0.).item() == 0.
    p = math.exp(-0.02 * 10)  # 0.819: bounds [0.491, 0.672]
    lower, upper = p * 0.6, 1 - p + p * 0.6
    expected = ((lower - 0.1) ** 2 + (0.9 - upper) ** 2) / 3
    assert density_bound_loss(d, t_d, p).item() == pytest.approx(expected)


def test_sparsity_loss_module_from_masks():
    table = GatedFlops((3, 8, 8), dense=1000, ungated=200, gates=40,
                       channel_flops=(100, 50), channels=(4, 8))
    masks = [torch.tensor([[1., 1., 0., 0.], [1., 1., 1., 1.]], requires_grad=True),
             torch.tensor([[1.] * 4 + [0.] * 4, [0.] * 8], requires_grad=True)]
    loss = SparsityLoss(t_d=0.5, lambda_flops=5., gamma_bound=1.)
    out = loss(masks, table)
    # F_real: image 0 = 240 + 200 + 200 = 640, image 1 = 240 + 400 = 640 -> kept 0.64
    assert out['flops_kept'].item() == pytest.approx(0.64)
    assert out['loss_flops'].item() == pytest.approx(5 * 0.14 ** 2)
    # densities 0.75 and 0.25 against [sqrt(.5), sqrt(.5)] at p = 1
    s = math.sqrt(0.5)
    assert out['loss_bound'].item() == pytest.approx(((0.75 - s) ** 2 + (s - 0.25) ** 2) / 2)
    assert out['gate_p'].item() == 1.
    (out['loss_flops'] + out['loss_bound']).backward()
    assert masks[0].grad.abs().sum() > 0
    loss.set_p(0.)
    assert loss(masks, table)['loss_bound'].item() == 0.
    assert 'p' in loss.state_dict()
    with pytest.raises(ValueError, match='fraction of FLOPs kept'):
        SparsityLoss(t_d=1.5)


def test_ddp_without_gather_is_each_gpus_own_batch(tmp_path):
    """``gather=False`` (solo-learn, the reference): each rank's loss is the formula on its
    own half-batch, nothing from the other rank."""
    script = tmp_path / 'ddp_vicreg.py'
    script.write_text(DDP_SCRIPT)
    port = 29500 + (os.getpid() + 500) % 1000
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, str(script), str(port), str(tmp_path), 'local'],
                   check=True, env=env, timeout=300)
    g = torch.Generator().manual_seed(0)
    z, zp = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    for r in range(2):
        rows = slice(r * 4, r * 4 + 4)
        res = torch.load(tmp_path / f'rank{r}.pth')
        assert torch.allclose(res['loss'], vicreg_by_the_formula(z[rows], zp[rows]), atol=1e-5)
