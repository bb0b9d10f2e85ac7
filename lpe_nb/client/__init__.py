"""The Python client of lpe-nb: the same API on a Jupyter server (HTTP + WebSocket) or in this process.

::

    client = lpe_nb.connect()                  # finds the server that started this kernel, else embedded
    job = client.projection("Rosa Parks refused to give up her seat.", persona="critic")
    job.wait(timeout=120).result               # or: await job / async with await aconnect() as client

Errors are :class:`~lpe_nb.errors.LpeError` subclasses: :class:`TokenRefused`, :class:`ServerUnreachable`
here, and ``InvalidInput``, ``JobNotFound``, ``InvalidTransition``, ``JobFailed`` from ``lpe_nb.errors``.
"""

from lpe_nb.client._async_client import AsyncClient
from lpe_nb.client._backend import Backend, ScheduleOptions, SubmitOptions
from lpe_nb.client._connect import aconnect, connect
from lpe_nb.client._discovery import ServerTarget, discover
from lpe_nb.client._display import set_notebook_renderer
from lpe_nb.client._embedded import EmbeddedBackend
from lpe_nb.client._job import AsyncJob, BaseJob, Job, JobList
from lpe_nb.client._remote import RemoteBackend
from lpe_nb.client._schedule import AsyncSchedule, Schedule
from lpe_nb.client._sync import Client
from lpe_nb.errors import ServerUnreachable, TokenRefused
from lpe_nb.jobs import JobEvent, JobRecord, JobStatus, Progress, StepRecord
from lpe_nb.jobs.analytics import Analytics as AnalyticsReport
from lpe_nb.jobs.analytics import AnalyticsGroup
from lpe_nb.jobs.model import MAX_DELAY_S, MAX_PRIORITY, MIN_PRIORITY
from lpe_nb.jobs.recurrence import ScheduleRecord
from lpe_nb.llm.pricing import format_usd
from lpe_nb.operations import FieldInfo, JobTypeInfo

__all__ = [
    "MAX_DELAY_S",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "AnalyticsGroup",
    "AnalyticsReport",
    "AsyncClient",
    "AsyncJob",
    "AsyncSchedule",
    "Backend",
    "BaseJob",
    "Client",
    "EmbeddedBackend",
    "FieldInfo",
    "Job",
    "JobEvent",
    "JobList",
    "JobRecord",
    "JobStatus",
    "JobTypeInfo",
    "Progress",
    "RemoteBackend",
    "Schedule",
    "ScheduleOptions",
    "ScheduleRecord",
    "ServerTarget",
    "ServerUnreachable",
    "StepRecord",
    "SubmitOptions",
    "TokenRefused",
    "aconnect",
    "connect",
    "discover",
    "format_usd",
    "set_notebook_renderer",
]
