"""Sync jobs: a queue, the workers that run them, and the scheduler that enqueues them.

The store holds each job's truth (state, progress, result: service/store/jobs.py), so any
API replica answers `GET /v1/jobs/{id}`; the queue only delivers job ids to workers, and a
delivery may repeat: a worker claims a job in the store before it runs it, so a job runs
once per claim, and one source's sync runs once at a time (its lease in the store).

- `queues`: where a submitted job goes (RQ on Redis, or a thread of this process)
- `runner`: claims a job, runs `pipeline.sync_source`, reports progress, renews its lease
- `worker`: `whoknows worker`, RQ's worker plus the sweep that retries abandoned jobs
- `scheduler`: `whoknows scheduler`, the leader that enqueues scheduled syncs
- `schedule`: `every 15m` and cron expressions

This package imports nothing at its top: the configuration reads `schedule` from it.
"""
