"""The live 2D view: a Snapshot turned into one canvas frame (see ui/canvas.py)."""

from ebm_core import figures
from ebm_core.live_toy2d import Snapshot
from ui import canvas


def show_snapshot(snap: Snapshot, view: str, layers: dict[str, bool], *, key: str = "live_canvas") -> None:
    grid, vmin, vmax = figures.view_grid(snap, view)
    frame = canvas.encode_frame(
        grid=grid, extent=snap.extent, mode=view, vmin=vmin, vmax=vmax,
        data=snap.x_data if layers.get("data") else None,
        negatives=snap.x_neg if layers.get("negatives") else None,
        trails=snap.trails if layers.get("trails") and snap.trails.size else None,
        field=figures.field_arrows(snap) if layers.get("field") else None,
        frame_id=snap.seq,
        title=f"step {snap.step}",
    )
    canvas.live_canvas(frame, key=key)
