# Linear evaluation of a dynamic-gating ResNet-18 as the reference evaluates it
# (KrishnaTarun/Unification main_linear.py + solo/methods/linear.py LinearModel): the whole
# pretraining checkpoint is loaded, the backbone is frozen and kept in eval mode (BN running
# statistics, deterministic gates ``logits >= 0``), and a linear layer on the 512-d average-
# pooled features of one branch is trained: ``--flag 1`` = the dense branch (gated=False),
# ``--flag 0`` = the gated branch (gated=True). The reference ships no linear script; its
# hyper-parameters are solo-learn's VICReg linear protocol (solo-learn
# bash_files/linear/imagenet-100/vicreg_linear.sh): SGD momentum 0.9, lr 0.3, weight decay 0,
# step decay x0.1 at epochs 60 and 80, 100 epochs, batch 512 on one GPU. The classifier weight
# starts uniform in [0, 1) (``nn.init.uniform_``), as LinearModel does.
# Top-level configs set the dataset, ``model.head.num_classes``, the stem and the checkpoint.
_base_ = ['mmcls::_base_/default_runtime.py']
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/vicreg-dual-gating_r18_cifar10/epoch_500.pth'
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmcls.ImageClassifier',
    from_backbone={'head.in_channels': 3},
    backbone=dict(
        type='dspnet_mm.GatedResNet', depth=18, in_channels=3, out_indices=(3, ),
        dual_bn=True, dual_bn_shortcut=False, gated=False,
        frozen_stages=4, norm_eval=True,  # LinearModel: backbone.eval(), no gradients
        norm_cfg=dict(type='BN'), flops_convention='reference',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5),
              init_cfg=dict(type='Uniform', layer='Linear', a=0., b=1.)))

train_dataloader = dict(batch_size=512, num_workers=8, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        collate_fn=dict(type='default_collate'))
val_dataloader = dict(batch_size=512, num_workers=8, persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      collate_fn=dict(type='default_collate'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.3, momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
