#!/usr/bin/env bash
# Serve NeutroWatch (runserver on 127.0.0.1:$PORT) with, when Redis is reachable, one Celery worker
# per queue and beat, each its own process. Without Redis, tasks run in-process and the pages say so.
# Logs and beat's schedule are per checkout, under var/ (ignored by git); logs are appended.
# Ctrl-C (or a SIGTERM to this script's process group) stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
MLLP_PORT=${MLLP_PORT:-2575}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export REDIS_URL
mkdir -p var/log
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# Ctrl-C or a SIGTERM: remember it, so the end of this script does not report it as a crash.
stopping=""
trap 'stopping=1' INT TERM

# Start a background process whose output is appended to var/log/NAME.log.
start() {
  local name=$1; shift
  echo "=== $(date -u '+%Y-%m-%dT%H:%M:%SZ') started: $*" >>"var/log/$name.log"
  "$@" >>"var/log/$name.log" 2>&1 &
  pids+=($!)
}

if $PY -c "import redis, sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$REDIS_URL" 2>/dev/null; then
  echo "Redis reachable at $REDIS_URL: starting Celery workers (queues celery, alerts, webhooks) and beat."
  echo "Logs: var/log/worker-celery.log, var/log/worker-alerts.log, var/log/worker-webhooks.log, var/log/beat.log"
  # Node names carry the port, so two checkouts on one machine do not clash.
  start worker-celery $PY -m celery -A neutrowatch worker -Q celery -c 2 -l info -n "celery-$PORT@%h"
  start worker-alerts $PY -m celery -A neutrowatch worker -Q alerts -c 1 -l info -n "alerts-$PORT@%h"
  # Webhooks apart: a slow receiver delays only its own deliveries, never in-app or email alerts.
  start worker-webhooks $PY -m celery -A neutrowatch worker -Q webhooks -c 2 -l info -n "webhooks-$PORT@%h"
  start beat $PY -m celery -A neutrowatch beat -l info --schedule var/celerybeat-schedule --pidfile=
else
  echo "WARNING: Redis is not reachable at $REDIS_URL. Background tasks will run in-process" >&2
  echo "(CELERY_TASK_ALWAYS_EAGER) and the scheduled jobs will not run; every page says so." >&2
  echo "Start Redis and re-run 'make run' for the real workers and beat." >&2
  export CELERY_TASK_ALWAYS_EAGER=true
  # Nowhere to share the ward's rows: drawn on every request (no warning about the cache per page).
  export WARD_ROWS_MAX_AGE_SECONDS=0
fi
# The HL7 v2 MLLP listener stores results (and raises their observed alerts) with or without Redis.
start mllp-listener $PY manage.py mllp_listener --host 127.0.0.1 --port "$MLLP_PORT"
echo "HL7 v2 (MLLP) results: 127.0.0.1:$MLLP_PORT (log: var/log/mllp-listener.log)"
# The web server's log goes to var/log/web.log too, so the demo accounts stay the last lines on screen.
start web $PY manage.py runserver --noreload "127.0.0.1:$PORT"
# The demo accounts last, where they are seen: once the server answers (at most 60 s).
for _ in $(seq 600); do
  [ -n "$stopping" ] && break
  $PY -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$PORT" 2>/dev/null && break
  sleep 0.1
done
if [ -z "$stopping" ]; then
  echo
  echo "NeutroWatch is ready: http://127.0.0.1:$PORT/ (Ctrl-C to stop; requests are logged in var/log/web.log)"
  if [ -s var/demo-accounts.txt ]; then cat var/demo-accounts.txt
  else echo "Demo accounts: nurse, nurse2, oncologist, admin (password as first printed; 'manage.py load_demo --password ...' sets one)"; fi
fi
status=0
wait -n "${pids[@]}" || status=$?
if [ -n "$stopping" ]; then
  echo "Stopping NeutroWatch (its workers, beat and listener too)."
  exit 130
fi
echo "A NeutroWatch process ended by itself (exit status $status); stopping the others. See var/log/ for why." >&2
exit 1
