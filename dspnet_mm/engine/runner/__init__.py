from .loops import ReproducibleEpochBasedTrainLoop, ReproducibleIterBasedTrainLoop
from .runner import TrainRunner, VerboseTrainRunner
