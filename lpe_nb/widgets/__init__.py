"""Jupyter widgets (ipywidgets 8) for lpe-nb jobs: live progress, launch forms, a maieutic session, a
dashboard, analytics. They only talk to :mod:`lpe_nb.client`; ``client=None`` means one shared ``lpe_nb.connect()``.

::

    from lpe_nb.widgets import JobProgress, ProjectionForm

    ProjectionForm(client)                     # pick options, click Run, watch the job below
    progress = JobProgress(client.projection("Rosa Parks refused to give up her seat."))
    progress                                   # display it; it updates itself, at most 10 times a second
    progress.wait_rendered(120)                # headless runs: block until the result is on screen

Every widget is displayed once and then only its traits change, coalesced to at most one update per child
widget every 100 ms, whatever the event rate; the terminal state is always rendered.
"""

from lpe_nb.client import set_notebook_renderer
from lpe_nb.widgets.analytics import Analytics
from lpe_nb.widgets.dashboard import JobsDashboard
from lpe_nb.widgets.forms import ConfigurationForm, JobForm, ProjectionForm, TranslationForm
from lpe_nb.widgets.maieutic import MaieuticSession
from lpe_nb.widgets.progress import JobProgress
from lpe_nb.widgets.results import render_result
from lpe_nb.widgets.schedules import SchedulesView

# A job handle displayed in a notebook becomes its live progress widget (the client never imports us).
set_notebook_renderer(JobProgress)

__all__ = [
    "Analytics",
    "ConfigurationForm",
    "JobForm",
    "JobProgress",
    "JobsDashboard",
    "MaieuticSession",
    "ProjectionForm",
    "SchedulesView",
    "TranslationForm",
    "render_result",
]
