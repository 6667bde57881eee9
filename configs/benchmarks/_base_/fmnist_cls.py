# Fine-tuning a slimmed Fashion-MNIST network (configs/dspnet_r18_fmnist.py's family) on
# Fashion-MNIST classification, on a CPU in a few minutes: the downstream target 'mmcls-fmnist'
# of tools/slim.py / tools/pick.py --print-config, which fill in the backbone and the head's
# in_channels. Train the written config with
#   PYTHON=.venv/bin/python bash tools/benchmarks/transfer/mmcls_train.sh CONFIG CHECKPOINT 1
_base_ = ['mmcls::_base_/default_runtime.py']
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10, mean=(72.9, ),
                           std=(90.0, ), to_rgb=False),
    backbone=dict(type='dspnet_mm.PlainResNet', depth=18, in_channels=1, stem_channels=16,
                  base_channels=16, small_input=True, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

dataset_type = 'dspnet_mm.LocalFashionMNIST'
data_root = 'data/fashion_mnist/'
train_pipeline = [dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                  dict(type='PackClsInputs')]
test_pipeline = [dict(type='PackClsInputs')]
train_dataloader = dict(
    batch_size=128, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=True,
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# whole network fine-tuned, 2 epochs (about 940 iterations of 128 images)
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, T_max=2)]
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=50),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
