"""tools/benchmarks/transfer/*.sh run the installed upstream tools/train.py with a slimmed
checkpoint (a real run of the segmentation script on the generated VOC data)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from .conftest import REPO, VOC_CLASSES
from .test_mmseg_transfer import seg_config
from .upstream_runs import use_slimmed_backbone

SCRIPTS = osp.join(REPO, 'tools', 'benchmarks', 'transfer')


def sh(*args, **env):
    return subprocess.run(['bash', *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHON=sys.executable, **env), timeout=600)


@pytest.mark.parametrize('name', ['train.sh', 'mmdet_train.sh', 'mmseg_train.sh',
                                  'mmcls_train.sh'])
def test_script_syntax(name):
    assert sh('-n', osp.join(SCRIPTS, name)).returncode == 0


def test_script_usage_errors(slimmed):
    r = sh(osp.join(SCRIPTS, 'mmdet_train.sh'))
    assert r.returncode == 2 and 'CONFIG PRETRAIN [GPUS]' in r.stderr
    r = sh(osp.join(SCRIPTS, 'train.sh'), 'mmfoo', 'a.py', slimmed['r18_w05'])
    assert r.returncode == 2 and "must be mmdet, mmseg or mmcls" in r.stderr
    cfg = osp.join(REPO, 'configs/benchmarks/mmdetection/coco/'
                   'mask-rcnn_dspnet-r50_fpn_ms-1x_coco.py')
    r = sh(osp.join(SCRIPTS, 'mmdet_train.sh'), cfg, 'missing.pth')
    assert r.returncode == 2 and 'slim one with tools/slim.py' in r.stderr


def test_mmseg_script_trains_with_the_slimmed_checkpoint(slimmed, voc_root, tmp_path):
    cfg = seg_config('mmsegmentation/voc12aug/fcn_dspnet-r50-d8_4xb4-20k_voc12aug-512x512.py',
                     voc_root, VOC_CLASSES, str(tmp_path / 'unused'))
    use_slimmed_backbone(cfg, slimmed, 'r18_w05')
    cfg.model.backbone.init_cfg.checkpoint = 'set/by/the/script.pth'
    cfg.pop('work_dir')
    config = str(tmp_path / 'fcn_tiny.py')
    cfg.dump(config)
    work_dir = str(tmp_path / 'work')
    r = sh(osp.join(SCRIPTS, 'mmseg_train.sh'), config, slimmed['r18_w05'], '1',
           '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
           WORK_DIR=work_dir)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = r.stdout + r.stderr
    assert f"load model from: {slimmed['r18_w05']}" in log
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
