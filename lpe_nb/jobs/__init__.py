"""The job engine: durable jobs behind a store protocol (SQLite today), a dispatcher with leases and resume,
and live events.

Knows nothing of Jupyter, Tornado, widgets or LLMs.
"""

from lpe_nb.jobs._role import DispatchMode
from lpe_nb.jobs.context import StepContext
from lpe_nb.jobs.events import EventBus, JobEvent, Subscription, SubscriptionClosed
from lpe_nb.jobs.listing import JobPage
from lpe_nb.jobs.manager import JobManager
from lpe_nb.jobs.model import TERMINAL_STATUSES, JobRecord, JobStatus, Progress, StepRecord, check_transition
from lpe_nb.jobs.registry import Operation, OperationFn, OperationRegistry
from lpe_nb.jobs.retry import RetryPolicy
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.sqlite import SqliteJobStore
from lpe_nb.jobs.store import JobStore, LeaseLost, Recovered, Synchronous, default_db_path, open_store

__all__ = [
    "TERMINAL_STATUSES",
    "DispatchMode",
    "EventBus",
    "JobEvent",
    "JobManager",
    "JobPage",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "LeaseLost",
    "ManagerSettings",
    "Operation",
    "OperationFn",
    "OperationRegistry",
    "Progress",
    "Recovered",
    "RetryPolicy",
    "SqliteJobStore",
    "StepContext",
    "StepRecord",
    "Subscription",
    "SubscriptionClosed",
    "Synchronous",
    "check_transition",
    "default_db_path",
    "open_store",
]
