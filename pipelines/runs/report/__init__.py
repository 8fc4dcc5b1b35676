"""The HTML report of one run: one self-contained file (inline CSS and SVG, no scripts, nothing
fetched) written into the run's root, from ML Metadata and the run's artifacts.

    tfx-yaml report [--config X.yaml] [--root DIR] [--run ID] [--open]

Sections, in order: the failure (if any), the stages, the data (splits, span, per-feature
statistics from StatisticsGen's proto, anomalies and the gate's verdict), training (learning
curves of the loss and every metric, learning rate, restarts, stop reason), evaluation (candidate
vs serving model with the blessing reasons, per-class table and confusion matrix, or a residual
plot), the push and the serving versions, lineage, and the spec as run.

Three layers: data.py reads the run into plain dataclasses, charts.py draws the figures as SVG,
templates/ lays the page out (Jinja2, every value escaped). This module writes the file.
"""

from __future__ import annotations

import contextlib
import functools
import os

import jinja2
from markupsafe import Markup

from pipelines.core.private import open_private, private_dir
from pipelines.runs.metadata import Store, as_store
from pipelines.runs.report import charts, data
from pipelines.runs.report.data import REPORT_CLASSES, capped_matrix, top_classes  # for the tests and callers
from pipelines.runs.summary import find_run

__all__ = ["REPORTS_DIR", "REPORT_CLASSES", "build_html", "capped_matrix", "report_path", "save_run_inputs",
           "top_classes", "write_report"]

REPORTS_DIR = "reports"


def report_path(root: str, run_id: str) -> str:
    return os.path.join(root, REPORTS_DIR, run_id.replace(":", "") + ".html")


def save_run_inputs(root: str, run_id: str, spec) -> None:
    """The spec as run (defaults filled in), kept beside the report so a later `tfx-yaml report`
    shows what this run was asked to do, even after the YAML changed."""
    import yaml

    path = report_path(root, run_id)[: -len(".html")] + ".spec.yaml"
    private_dir(os.path.dirname(path))  # 0700 and files 0600: the local run's root
    with open_private(path) as f:
        # by alias: the keys as the YAML spells them (`schema:`, not the model's attribute `schema_`)
        yaml.safe_dump(spec.model_dump(mode="json", by_alias=True), f, sort_keys=False)


def write_report(root: str, metadata: Store | str, destination: str, run_id: str | None = None,
                 failure: str | None = None, pipeline: str | None = None) -> str | None:
    """Write the report of run `run_id` (default: the newest) of the pipeline named `pipeline`
    (of any when None) and return its path; None when the store has no such run of it. `failure`
    (the stage and the message) is kept for later rewrites."""
    store = as_store(metadata).connect()
    run = find_run(store, run_id, pipeline) if store else None
    if run is None:
        return None
    path = report_path(root, run.name)
    base = path[: -len(".html")]
    private_dir(os.path.dirname(path))  # 0700 and files 0600: the local run's root
    if failure:
        try:
            with open_private(base + ".failure.txt") as f:
                f.write(failure)
        except OSError:  # a full disk: no cut message kept for later rewrites; this page still says it
            with contextlib.suppress(OSError):
                os.remove(base + ".failure.txt")  # local-only: the report lives in the local root
    failure = failure or data.file_text(base + ".failure.txt")
    page = build_html(store, run, destination, failure, data.file_text(base + ".spec.yaml"))
    try:
        with open_private(path + ".tmp") as f:  # written whole, then renamed
            f.write(page)
        os.replace(path + ".tmp", path)  # local-only
    except BaseException:  # a full disk, a kill signal's KeyboardInterrupt: no partial page left behind
        with contextlib.suppress(OSError):
            os.remove(path + ".tmp")  # local-only: the report lives in the local root
        raise
    return path


def build_html(store, run, destination: str, failure: str | None, spec_text: str | None) -> str:
    """The page of `run` (a run context of `store`)."""
    return _templates().get_template("report.html").render(
        report=data.read_report(store, run, destination, failure, spec_text))


def _per_class(candidate: dict) -> str:
    """The per-class table and confusion matrix alone, of a classifier's metrics.json candidate."""
    return _templates().get_template("per_class.html").render(per_class=data.per_class(candidate))


# ---------------------------------------------------------------- the templates


def _svg(draw):
    """A chart function for the templates: our own SVG (charts.py escapes the text it draws),
    so marked safe; nothing else a template prints is."""
    return lambda *args, **kwargs: Markup(draw(*args, **kwargs))


def _show(value) -> str:
    return charts.fmt(value) if isinstance(value, float) else str(value)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipelines.runs.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"], default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=charts.fmt, show=_show, pct=_pct, count="{:,}".format)
    env.globals.update(line_chart=_svg(charts.line_chart), residual_plot=_svg(charts.residual_plot),
                       bars=_svg(charts.bars), intervals=_svg(charts.intervals))
    return env
