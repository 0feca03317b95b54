"""The Playground's live numbers as one HTML block (cards and a table), drawn the same way by the
fragment (plain `streamlit run`) and by the live panel that fetches it (ui/frame_route.py)."""

import math

import streamlit as st

from ebm_core import samplers
from ebm_core.live.toy2d import Snapshot


def fmt_number(v: float | None, digits: int = 3) -> str:
    """A number in a few characters whatever its size: 0.123, −4.560, 1.23e+31, 4.00e−05, inf, nan;
    "—" when there is none. A diverging run's loss must not push the table off the screen."""
    if v is None:
        return "—"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    text = f"{v:.{digits - 1}e}" if v != 0 and not 1e-3 <= abs(v) < 1e5 else f"{v:.{digits}f}"
    return text.replace("-", "−")


# The live numbers are one HTML block, drawn the same way by the fragment (plain `streamlit run`) and by
# the live panel that fetches it (ui/components/live_panel.py). Fixed column widths and cells that cut long text
# keep the layout when a value is odd.
_NUMBERS_CSS = """<style>
.ebm-numbers { font-size: 0.95rem; }
.ebm-numbers .cards { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.75rem;
  margin-bottom: 0.75rem; }
.ebm-numbers .card { border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.55rem 0.8rem;
  min-width: 0; }
.ebm-numbers .card .label { font-size: 0.85rem; color: #4b5563; }
.ebm-numbers .card .value { font-size: 1.9rem; line-height: 1.25; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.ebm-numbers table { border-collapse: collapse; width: 100%; table-layout: fixed; }
.ebm-numbers td, .ebm-numbers th { padding: 0.3rem 0.5rem; border-bottom: 1px solid #e5e7eb; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.ebm-numbers td { color: #4b5563; width: 31%; } .ebm-numbers th { text-align: right; font-weight: 600; width: 19%; }
.ebm-numbers .note { font-size: 0.85rem; color: #6b7280; margin-top: 0.5rem; }
</style>"""


def rate_text(snap, digits: int = 0) -> str:
    """Updates a second as a card shows it; "…" while a run that just started training has not been
    measured yet (its first second), rather than a 0 that reads as stuck."""
    if snap.status == "running" and snap.steps_per_s == 0:
        return "…"
    return f"{snap.steps_per_s:.{digits}f}"


def numbers_html(snap: Snapshot) -> str:
    """The live numbers of a snapshot: step, rate and KL as cards, the rest in a table."""
    h, d = snap.history, snap.diagnostics
    last = {k: float(v[-1]) for k, v in h.items()} if len(h["step"]) else {}
    ok = d is not None
    ce = d.kl + snap.data_entropy if ok else None  # exact cross-entropy: it minus the data entropy is the KL
    mala = samplers.get_sampler(snap.config.sampler.sampler).metropolis  # an acceptance rate to show
    cards = [("Step", f"{snap.step:,}", "data-ebm-step"), ("Steps/s", rate_text(snap), ""),
             ("KL to data", fmt_number(d.kl if ok else None), "title='Exact, on the grid: how many nats the model’s "
              "density is from the data’s. 0 is perfect.'")]
    rows = [
        ("Device", snap.device, "Status", snap.status),
        ("Loss", fmt_number(last.get("loss")), "Energy gap", fmt_number(last.get("gap"))),
        ("mean E(data)", fmt_number(last.get("e_pos")), "mean E(neg)", fmt_number(last.get("e_neg"))),
        ("log Z (exact)", fmt_number(d.log_z if ok else None), "Sampler bias", fmt_number(d.bias if ok else None)),
        ("Cross-entropy", fmt_number(ce), "Data entropy", fmt_number(snap.data_entropy)),
        ("Test NLL (sampled)", fmt_number(d.nll if ok else None), "Mass off screen",
         "—" if not ok or not math.isfinite(d.mass_outside) else f"{d.mass_outside:.1%}"),
        ("MALA acceptance" if mala else "Temperature",
         fmt_number(last.get("acceptance"), 2) if mala else fmt_number(snap.config.sampler.temperature), "", ""),
    ]
    s = snap.config.sampler
    card_html = "".join(f"<div class='card' {attr}><div class='label'>{label}</div><div class='value'>{value}</div>"
                        "</div>" for label, value, attr in cards)
    cells = "".join(f"<tr><td>{a}</td><th>{b}</th><td>{c}</td><th>{e}</th></tr>" for a, b, c, e in rows)
    return (f"<div class='ebm-numbers' data-step='{snap.step}'><div class='cards'>{card_html}</div>"
            f"<table>{cells}</table>"
            f"<div class='note'>In use: <b>{s.sampler.upper()}</b>, step size <b>{s.step_size:g}</b>, "
            f"K = <b>{s.n_steps}</b>, noise <b>{s.noise_scale:g}</b>, lr <b>{snap.config.train.lr:g}</b>.</div>"
            "<div class='note'>Cross-entropy − data entropy = KL, all three exact on the grid. The test NLL averages "
            "−log p over held-out data samples, so it differs from the cross-entropy by sampling noise. Sampler "
            "bias: KL between the replay buffer's histogram and the exact model density (how well the chains "
            f"sample the model).</div></div>{_NUMBERS_CSS}")


def metrics_panel(snap: Snapshot) -> None:
    st.html(numbers_html(snap))
