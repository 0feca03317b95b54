import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
# Live runs save their state (ebm_core/live/saved.py): the tests' go to a folder of their own
os.environ.setdefault("EBM_STATE_DIR", tempfile.mkdtemp(prefix="ebm-test-state-"))
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def app_url():
    """`streamlit run serve.py` (as `make run` starts the app) on a free local port for the tests of
    one module (browser tests)."""
    from browser import streamlit_server

    with streamlit_server(ROOT / "serve.py") as url:
        yield url
