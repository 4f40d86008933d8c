"""`mtl report`: one run as report.html (self-contained, opens offline) and report.md with its PNGs.

collect.py reads the run back (MLMD, statistics, anomalies, TFMA metrics and plots, the training history),
layout.py turns it into sections of text, tables and figures (plots.py draws them), render.py writes HTML and
Markdown from the same sections. model_card.py writes the model card of a run that trained a model beside them
(model_card.json / .html / .md, linked from the report's navigation).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Optional

from pipeline.core.config_schema import ModelCardInfo
from pipeline.core.rundir import REPORTS_DIR, RunDir  # noqa: F401 (report.REPORTS_DIR for its callers)
from pipeline.files import write_atomically
from pipeline.store import shown_id


@dataclass(frozen=True)
class ReportFiles:
    html: str
    markdown: str
    figures: int
    verdict: str
    model_card: Optional[str] = None  # model_card.html, when the run trained a model


def default_dir(output_dir: str, run_id: str) -> str:
    """<output>/reports/<run id>, the id spelled as everywhere else (store.shown_id: a plain folder name)."""
    return RunDir(output_dir).report_for(shown_id(run_id))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(output_dir: str, which: str = "latest", out_dir: Optional[str] = None,
                 card_info: Optional[ModelCardInfo] = None) -> ReportFiles:
    """Write the report of one run (`which`: run id, unique prefix, latest or previous) into out_dir (default
    <output>/reports/<run id>/), and its model card when it trained a model (`card_info`: the config's
    model_card block; None keeps the text of the card written before for this run). The figures folder is
    swapped in whole and each file replaced in one rename: a failure leaves the previous report as it was.
    Raises store.HistoryError for a missing run or database."""
    import pipeline
    from pipeline.report import collect, layout, model_card, render

    data = collect.collect(output_dir, which)
    sections = layout.build(data)
    target = out_dir or default_dir(output_dir, data.run.run_id)
    os.makedirs(target, exist_ok=True)
    card = _model_card(data, output_dir, target, card_info)
    links = [("Model card", model_card.HTML_FILE)] if card else []
    title = f"{data.run.pipeline}: run {data.run.run_id}"
    written = time.strftime("%Y-%m-%d %H:%M:%S")
    html = render.html(title, sections, pipeline.__version__, written, links)
    markdown = render.markdown(title, sections, pipeline.__version__, written,
                               [(text, href.replace(".html", ".md")) for text, href in links])
    figures = layout.figures(sections)
    staging = tempfile.mkdtemp(prefix=".report-files-", dir=target)
    os.chmod(staging, 0o777 & ~_umask())
    try:
        for name, figure in figures.items():
            with open(os.path.join(staging, f"{name}.png"), "wb") as f:
                f.write(figure.png)
        final = os.path.join(target, render.FIGURES_DIR)
        old = final + f".old-{os.getpid()}"
        if os.path.isdir(final):
            os.replace(final, old)
        try:
            os.replace(staging, final)
        except OSError:
            if os.path.isdir(old):
                os.replace(old, final)  # put the previous figures back
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_atomically(os.path.join(target, "report.md"), markdown)
    write_atomically(os.path.join(target, "report.html"), html)
    return ReportFiles(os.path.join(target, "report.html"), os.path.join(target, "report.md"), len(figures),
                       data.run.verdict, card)


def _model_card(data, output_dir: str, target: str, info: Optional[ModelCardInfo]) -> Optional[str]:
    """Write the run's model card into target; its HTML path (the card names the pushed version)."""
    from pipeline.report import model_card

    if not model_card.has_model(data):
        return None
    if info is None:
        info = model_card.recorded_info(target) or model_card.recorded_info(default_dir(output_dir, data.run.run_id))
    card = model_card.build(data, info)
    return model_card.write(card, target)["html"]  # not into the pushed version: published versions stay as pushed
