"""What admins see of background work: jobs that failed, with their tracebacks."""

from dataclasses import dataclass
from datetime import datetime

from rq.job import Job
from rq.registry import FailedJobRegistry

from commsapp.queue import get_queue


@dataclass(frozen=True)
class FailedJob:
    id: str
    function: str
    arguments: str
    failed_at: datetime | None
    traceback: str


def failed_jobs(limit: int = 100) -> list[FailedJob]:
    queue = get_queue()
    registry = FailedJobRegistry(queue=queue)
    job_ids = registry.get_job_ids(0, limit - 1)
    result = []
    for job in Job.fetch_many(job_ids, connection=queue.connection):
        if job is None:
            continue
        result.append(
            FailedJob(
                id=job.id,
                function=job.func_name,
                arguments=", ".join(map(repr, job.args)),
                failed_at=job.ended_at,
                traceback=job.latest_result().exc_string
                if job.latest_result()
                else (job.exc_info or ""),
            )
        )
    return result
