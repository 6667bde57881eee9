# moved to dspnet_mm.apis.benchmark; kept until every script imports it from there
from dspnet_mm.apis.benchmark import *  # noqa: F401,F403
from dspnet_mm.apis.benchmark import REPO  # noqa: F401
