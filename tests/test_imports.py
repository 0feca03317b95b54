import subprocess
import sys

from conftest import ROOT


def test_importing_the_library_does_not_import_streamlit():
    code = ("import sys, ebm_core, ebm_core.toy2d, ebm_core.samplers, ebm_core.training, ebm_core.density, "
            "ebm_core.config, ebm_core.checkpoint, ebm_core.nets, ebm_core.energies, ebm_core.images, "
            "ebm_core.__main__, ebm_core.live, ebm_core.live_toy2d, ebm_core.live_images, ebm_core.image_train, "
            "ebm_core.quality, ebm_core.figures, ebm_core.image_figures, ebm_core.phases, ebm_core.phase_figures, "
            "ebm_core.presets, ebm_core.userdata, ebm_core.theory, ebm_core.lab; "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
