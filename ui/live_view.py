"""The live 2D view: a Snapshot turned into one canvas frame (see ui/components/canvas.py). The frame
route (ui/frame_route.py) serves these frames; under plain `streamlit run` a fragment pushes them."""

from ebm_core.figures import playground as figures
from ebm_core.live.toy2d import Snapshot
from ui.components import canvas


def frame_bytes(snap: Snapshot, view: str, layers: dict[str, bool]) -> bytes:
    grid, vmin, vmax = figures.view_grid(snap, view)
    return canvas.encode_frame(
        grid=grid, extent=snap.extent, mode=view, vmin=vmin, vmax=vmax,
        data=snap.x_data if layers.get("data") else None,
        negatives=snap.x_neg if layers.get("negatives") else None,
        trails=snap.trails if layers.get("trails") and snap.trails.size else None,
        field=figures.field_arrows(snap) if layers.get("field") else None,
        frame_id=snap.seq,
        title=f"step {snap.step}",
    )


def show_snapshot(snap: Snapshot, view: str, layers: dict[str, bool], *, key: str = "live_canvas") -> None:
    """Push one frame to the canvas (a fragment rerun per frame)."""
    canvas.live_canvas(frame_bytes(snap, view, layers), key=key)

