"""Running on this machine: the runner (LocalDagRunner, progress, summary), the root's lock, the
unchanged-run fast path, private log files and the scheduler with its cron rules."""
