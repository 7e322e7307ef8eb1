"""`flask jobs`: what happened to background work."""

import click

from commsapp.services.jobs_admin import failed_jobs


@click.group("jobs", help="Inspect background jobs.")
def jobs_group() -> None:
    pass


@jobs_group.command("failed")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def list_failed(limit: int) -> None:
    """List failed jobs with their tracebacks."""
    jobs = failed_jobs(limit)
    if not jobs:
        click.echo("No background job has failed.")
        return
    for job in jobs:
        click.echo(f"== {job.id}  {job.function}({job.arguments})  failed at {job.failed_at}")
        click.echo(job.traceback.rstrip())
