#!/usr/bin/env bash
# Creates .venv/ (if absent) and installs this project into it. Idempotent: a stamp holding the hash of the
# install inputs makes a second run a no-op. CPU torch by default; set REID_TORCH_INDEX to another index
# (e.g. https://download.pytorch.org/whl/cu124 with REID_TORCH_PIN="torch==2.5.1 torchvision==0.20.1") for a GPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
STAMP="$VENV/.reid_plugins_installed"

inputs_hash() {
  cat setup.cfg pyproject.toml requirements/*.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_hash)" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

echo "[bootstrap] setting up $VENV (about 2-3 minutes on a fresh machine)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
export PIP_PROGRESS_BAR=off

# 1. torch + torchvision. The CPU pair in requirements/constraints.txt comes from the configured indexes / local
#    wheel cache when they have it; otherwise from PyTorch's CPU index (or REID_TORCH_INDEX). Trying the configured
#    indexes first keeps machines that cannot reach download.pytorch.org from stalling on its retries.
PIN=(-c requirements/constraints.txt)
if [ -n "${REID_TORCH_INDEX:-}" ]; then
  PIN=()  # the user's build replaces the CPU pair; step 2 keeps whatever step 1 installed
  "${PIP[@]}" install -q --extra-index-url "$REID_TORCH_INDEX" ${REID_TORCH_PIN:-torch torchvision}
elif ! "${PIP[@]}" install -q -c requirements/constraints.txt torch torchvision 2>/dev/null; then
  "${PIP[@]}" install -q -c requirements/constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu \
    torch torchvision
fi
# 2. this package with its dependencies and every extra (all = clip, hf, mllm), torch held at the pair above.
"${PIP[@]}" install -q ${PIN[@]+"${PIN[@]}"} -r requirements/build.txt -e ".[all,test,export]"
# 3. packages whose declared dependencies are wrong for us.
"${PIP[@]}" install -q --no-deps -r requirements/nodeps.txt
# 4. fastreid's Cython ranker, built with the venv's python (fastreid would otherwise try `make` at run time).
"$VENV/bin/python" - <<'PY'
import importlib.machinery, importlib.util, os, subprocess, sys
d = os.path.join(os.path.dirname(importlib.util.find_spec("fastreid").origin), "evaluation", "rank_cylib")
def loads(name):  # the built extension is in d and loads (found in d only: no sys.path edit)
    spec = importlib.machinery.PathFinder.find_spec(name, [d])
    try:
        return spec is not None and importlib.util.module_from_spec(spec) is not None
    except ImportError:
        return False
if not (loads("rank_cy") and loads("roc_cy")):
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", os.path.join(d, "build")], check=True)
PY
# 5. smoke check: the compat layer makes fastreid, torchvision and open_clip importable.
"$VENV/bin/python" -c "import reid_plugins, fastreid.engine, open_clip, torchvision; print('[bootstrap] ok: torch', __import__('torch').__version__)" >&2
inputs_hash > "$STAMP"
