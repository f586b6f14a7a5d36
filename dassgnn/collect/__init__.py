"""The meta-dataset factory: plans, jobs, executors and the collector."""

from dassgnn.collect.collector import CollectReport, collect
from dassgnn.collect.executors import (
    EXECUTORS,
    BatchedExecutor,
    PoolExecutor,
    RayExecutor,
    SerialExecutor,
    available_cpus,
    check_device,
    create_executor,
)
from dassgnn.collect.jobs import JobOutcome, Worker
from dassgnn.collect.plan import Plan, StudentJob, TaskGroup, TeacherJob

__all__ = [
    "EXECUTORS",
    "BatchedExecutor",
    "CollectReport",
    "JobOutcome",
    "Plan",
    "PoolExecutor",
    "RayExecutor",
    "SerialExecutor",
    "StudentJob",
    "TaskGroup",
    "TeacherJob",
    "Worker",
    "available_cpus",
    "check_device",
    "collect",
    "create_executor",
]
