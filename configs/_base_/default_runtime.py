# mmselfsup's runtime with checkpoints written atomically (temporary file + fsync + rename), so
# a crash or a full disk mid-save keeps the previous checkpoint.
_base_ = ['mmselfsup::selfsup/_base_/default_runtime.py']
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
