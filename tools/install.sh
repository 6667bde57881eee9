#!/usr/bin/env bash
# One command that sets up everything dspnet_mm needs on a fresh machine (CPU or CUDA):
#   bash tools/install.sh
# - uses the active virtualenv if one is activated, otherwise creates/reuses .venv in the repo root;
# - installs torch, the OpenMMLab stack (mmcv 2.0.1 built WITH ops, see below), test tools and
#   dspnet_mm itself in editable mode;
# - unpacks Fashion-MNIST (Debian package dataset-fashion-mnist) into data/fashion_mnist/ when it can;
# - is idempotent: a second run only checks (the mmcv wheel is kept in a cache folder).
# Any failing step stops the script with a message.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\n[install] %s\n' "$*"; }
die() { printf '\n[install] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "step failed at line $LINENO (command: $BASH_COMMAND)"' ERR

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.0.1
WHEEL_CACHE="${DSPNET_MM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dspnet_mm/wheels}"

# 1. Python environment ---------------------------------------------------------------------------
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
  say "using the active virtualenv $VIRTUAL_ENV"
else
  if [ ! -x .venv/bin/python ]; then
    BASE_PY="${PYTHON:-python3.11}"
    command -v "$BASE_PY" >/dev/null || BASE_PY=python3
    "$BASE_PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
      || die "Python 3.11 is required (set PYTHON=/path/to/python3.11)"
    say "creating .venv with $BASE_PY"
    "$BASE_PY" -m venv .venv
  fi
  PY="$ROOT/.venv/bin/python"
fi
PIP=("$PY" -m pip install --disable-pip-version-check)

# setuptools: torch 2.14 wants >=77; 82 removed pkg_resources, which mmcv's setup.py imports.
"${PIP[@]}" -q "pip>=24" "setuptools>=77,<82" wheel ninja

# 2. torch --------------------------------------------------------------------------------------
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.startswith('$TORCH_VERSION') and torchvision.__version__.startswith('$TORCHVISION_VERSION')))" 2>/dev/null; then
  say "installing torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION"
  "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# 3. mmcv 2.0.1 with compiled ops -------------------------------------------------------------------
# PyPI has only the sdist; its setup.py hard-codes -std=c++14 but torch 2.14's headers need C++20.
# We build a wheel once (about 10 minutes on 2 cores) with that flag replaced and keep it in
# $WHEEL_CACHE, so later runs on the same machine install it in seconds.
mmcv_ok() { "$PY" -c "import mmcv, sys; from mmcv.ops import nms, RoIAlign; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; }
if ! mmcv_ok; then
  mkdir -p "$WHEEL_CACHE"
  WHL=$(ls "$WHEEL_CACHE"/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$WHL" ]; then
    say "building mmcv $MMCV_VERSION with ops (about 10 minutes on 2 cores)"
    BUILD=$(mktemp -d)
    "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    grep -q -- '-std=c++14' "$SRC/setup.py" || die "mmcv setup.py has no -std=c++14 flag to patch"
    sed -i 's/-std=c++14/-std=c++20/g' "$SRC/setup.py"
    (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps . -w "$WHEEL_CACHE")
    WHL=$(ls "$WHEEL_CACHE"/mmcv-$MMCV_VERSION-*.whl | head -n1)
    rm -rf "$BUILD"
  fi
  say "installing $WHL"
  "${PIP[@]}" -q "$WHL" "mmengine==0.10.7"
  mmcv_ok || die "mmcv $MMCV_VERSION with ops does not import after install"
fi

# 4. The OpenMMLab stack, test tools and dspnet_mm (editable) --------------------------------------
say "installing the OpenMMLab stack and dspnet_mm (editable)"
"${PIP[@]}" -q -e ".[tests]"
"$PY" -c "import mmcv.ops, mmengine, mmcls, mmselfsup, mmdet, mmseg, dspnet_mm" \
  || die "the stack does not import"

# 5. Real data: Fashion-MNIST from Debian's dataset-fashion-mnist ---------------------------------
FMNIST_SRC=/usr/share/datasets/fashion-mnist
if [ ! -d "$FMNIST_SRC" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  say "installing Debian package dataset-fashion-mnist"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
    || say "WARNING: could not install dataset-fashion-mnist; tests on real data will fail"
fi
if [ -d "$FMNIST_SRC" ]; then
  "$PY" tools/prepare_fashion_mnist.py --src "$FMNIST_SRC" --out data/fashion_mnist
fi
say "done in ${SECONDS} s: $("$PY" -c 'import torch, mmcv, mmengine, mmcls, mmselfsup, mmdet, mmseg; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmengine", mmengine.__version__, "mmcls", mmcls.__version__, "mmselfsup", mmselfsup.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__)')"
