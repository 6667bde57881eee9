# CIFAR-100 train split (50k, 32x32), VICReg views as CIFAR-10. Data: cifar-100-python.tar.gz
# unpacked into data/cifar100/ (data/cifar100/cifar-100-python/{train,test,meta}).
_base_ = ['vicreg_cifar10.py']
train_dataloader = dict(dataset=dict(type='LocalCIFAR100', data_prefix='data/cifar100/'))
data_preprocessor = dict(mean=(129.3, 124.1, 112.4), std=(68.2, 65.4, 70.4))
