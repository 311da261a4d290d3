#!/usr/bin/env bash
# Serve NeutroWatch with a Celery worker (and beat) when Redis is reachable; otherwise run
# tasks in-process so the app still works, and say so plainly.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export REDIS_URL

if $PY -c "import redis, sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$REDIS_URL" 2>/dev/null; then
  echo "Redis reachable at $REDIS_URL: starting a Celery worker with beat (log: celery.log)."
  $PY -m celery -A neutrowatch worker -B -l info -c 2 --schedule /tmp/neutrowatch-beat-schedule >celery.log 2>&1 &
  worker=$!
  trap 'kill $worker 2>/dev/null || true' EXIT INT TERM
else
  echo "WARNING: Redis is not reachable at $REDIS_URL. Background tasks will run in-process" >&2
  echo "(CELERY_TASK_ALWAYS_EAGER); start Redis and re-run 'make run' for the real worker." >&2
  export CELERY_TASK_ALWAYS_EAGER=true
fi
echo "NeutroWatch on http://127.0.0.1:8000/ (Ctrl-C to stop)"
$PY manage.py runserver 127.0.0.1:8000
