#!/usr/bin/env bash
# The multi-datacenter demo: builds the image, starts deploy/docker-compose.yml
# (dc1: three servers, two client agents; dc2: three servers, one client
# agent; a demo service beside each client), waits until it is healthy, and
# runs the walkthrough against it, printing each command and its output.
#   ./deploy/demo.sh          # or: make demo
#   ./deploy/demo.sh down     # or: make demo-down; removes containers, networks, volumes
# Environment: COMPOSE_PROJECT_NAME (tribune), TRIBUNE_IMAGE (tribune:dev),
# TRIBUNE_SKIP_BUILD=1 to use the image as it is, and the variables
# deploy/docker-compose.yml reads (TRIBUNE_NET, TRIBUNE_DC1_HTTP, TRIBUNE_DC2_HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSE_FILE=deploy/docker-compose.yml
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-tribune}
export TRIBUNE_IMAGE=${TRIBUNE_IMAGE:-tribune:dev}
if docker compose version >/dev/null 2>&1; then
	compose() { docker compose "$@"; }
	COMPOSE="docker compose"
else
	compose() { docker-compose "$@"; }
	COMPOSE="docker-compose"
fi

if [ "${1:-}" = down ]; then
	compose down -v --remove-orphans
	exit 0
fi

timeout=${TRIBUNE_DEMO_TIMEOUT:-180}

if [ "${TRIBUNE_SKIP_BUILD:-}" != 1 ]; then
	./deploy/build.sh "$TRIBUNE_IMAGE"
fi
compose up -d

# healthy waits until every agent container reports healthy (its agent
# answers a catalog read: a leader is elected, a client has found a server).
healthy() {
	[ "$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --filter health=healthy | wc -l)" -ge 9 ]
}
# ready: both datacenters healthy, the six servers in the WAN pool, and
# the three demo services registered and passing their checks.
ready() {
	healthy || return 1
	[ "$(curl -sf "http://$dc1/v1/agent/members?wan=1" | grep -o '"Status":1' | wc -l)" -ge 6 ] || return 1
	[ "$(curl -sf "http://$dc1/v1/health/service/web?passing" | grep -o '"ServiceID":"web"' | wc -l)" -ge 2 ] || return 1
	[ "$(curl -sf "http://$dc2/v1/health/service/web?passing" | grep -o '"ServiceID":"web"' | wc -l)" -ge 1 ] || return 1
}
published() { compose port "$1" 8500 | tail -n1 | sed 's/^0\.0\.0\.0:/127.0.0.1:/'; }
dc1=$(published dc1-server1)
dc2=$(published dc2-server1)

echo "==> waiting for both datacenters (up to ${timeout}s)"
deadline=$((SECONDS + timeout))
until ready; do
	[ -n "${TRIBUNE_DEMO_DEBUG:-}" ] && echo "healthy: $(healthy && echo y) t=$SECONDS" >&2
	if [ $SECONDS -ge $deadline ]; then
		echo "==> not ready after ${timeout}s; container states:" >&2
		compose ps >&2
		exit 1
	fi
	sleep 1
done
echo "==> ready in ${SECONDS}s; dc1-server1's HTTP API is on $dc1, dc2-server1's on $dc2"
echo "    (the ${COMPOSE} commands below need COMPOSE_FILE=$COMPOSE_FILE COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME)"
echo

# show prints a command as typed, then runs it.
show() { echo "\$ $1"; shift; "$@" || true; echo; }
exec_in() { local c=$1; shift; compose exec -T "$c" "$@"; }

show "$COMPOSE exec dc1-server1 tribune members" exec_in dc1-server1 tribune members
show "$COMPOSE exec dc2-server1 tribune members -wan" exec_in dc2-server1 tribune members -wan
show "curl http://$dc1/v1/status/peers" sh -c "curl -s http://$dc1/v1/status/peers; echo"
show "curl http://$dc1/v1/catalog/datacenters" sh -c "curl -s http://$dc1/v1/catalog/datacenters; echo"
show "curl 'http://$dc2/v1/catalog/nodes?dc=dc1'" sh -c "curl -s 'http://$dc2/v1/catalog/nodes?dc=dc1'; echo"
show "$COMPOSE exec dc1-client1 tribune catalog nodes -service web" exec_in dc1-client1 tribune catalog nodes -service web
show "curl 'http://$dc2/v1/health/service/web?dc=dc1&passing'" sh -c "curl -s 'http://$dc2/v1/health/service/web?dc=dc1&passing'; echo"
show "$COMPOSE exec dc1-client2 tribune kv put greeting hello-from-dc1" exec_in dc1-client2 tribune kv put greeting hello-from-dc1
show "curl 'http://$dc2/v1/kv/greeting?dc=dc1&raw'" sh -c "curl -s 'http://$dc2/v1/kv/greeting?dc=dc1&raw'; echo"
echo "==> the cluster keeps running; remove it with: make demo-down (or ./deploy/demo.sh down)"
