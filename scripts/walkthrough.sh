#!/usr/bin/env bash
# The walkthrough of docs/walkthrough.md on one machine: host N is 127.0.0.N,
# each agent with its own data directory under $DATA. Build first:
#   go build -o tribune ./cmd/tribune && ./scripts/walkthrough.sh
set -u
T=${TRIBUNE:-./tribune}
D=${DATA:-/tmp/tribune-walkthrough}
rm -rf "$D"; mkdir -p "$D"
trap 'kill $(jobs -p) 2>/dev/null' EXIT
agent() { local n=$1; shift; $T agent "$@" -node host$n -client 127.0.0.$n > $D/host$n.log 2>&1 & }
agent 1 -server -bootstrap-expect 3 -data-dir $D/h1 -bind 127.0.0.1 -gossip small
agent 2 -server -bootstrap-expect 3 -data-dir $D/h2 -bind 127.0.0.2 -retry-join 127.0.0.1 -gossip small
agent 3 -server -bootstrap-expect 3 -data-dir $D/h3 -bind 127.0.0.3 -gossip small
up() { for i in $(seq 1 100); do curl -sf "$1:8500/v1/agent/members" >/dev/null && return; sleep 0.1; done; }
up 127.0.0.1; up 127.0.0.3
echo "host1\$ curl http://127.0.0.1:8500/v1/status/leader   # waiting for 3 servers"; curl -s http://127.0.0.1:8500/v1/status/leader; echo; echo
echo "host1\$ tribune join 127.0.0.3"; CONSUL_HTTP_ADDR=127.0.0.1:8500 $T join 127.0.0.3; echo
agent 4 -data-dir $D/h4 -bind 127.0.0.4 -join 127.0.0.1 -gossip small
agent 5 -server -bootstrap-expect 1 -datacenter dc2 -data-dir $D/h5 -bind 127.0.0.5
for i in $(seq 1 60); do curl -sf 127.0.0.1:8500/v1/status/leader | grep -q 127 && curl -sf 127.0.0.5:8500/v1/status/leader | grep -q 127 && break; sleep 0.5; done
echo "host5\$ tribune join -wan 127.0.0.1"; CONSUL_HTTP_ADDR=127.0.0.5:8500 $T join -wan 127.0.0.1; echo
sleep 2
echo "host1\$ tribune members"; CONSUL_HTTP_ADDR=127.0.0.1:8500 $T members; echo
echo "host5\$ tribune members -wan"; CONSUL_HTTP_ADDR=127.0.0.5:8500 $T members -wan; echo
echo "host1\$ curl http://127.0.0.1:8500/v1/status/peers"; curl -s 127.0.0.1:8500/v1/status/peers; echo; echo
echo "\$ curl http://127.0.0.1:8500/v1/catalog/datacenters"; curl -s http://127.0.0.1:8500/v1/catalog/datacenters; echo; echo
echo "\$ curl 'http://127.0.0.5:8500/v1/catalog/nodes?dc=dc1'"; curl -s 'http://127.0.0.5:8500/v1/catalog/nodes?dc=dc1'; echo; echo
echo "host4\$ tribune kv put greeting hello"; CONSUL_HTTP_ADDR=127.0.0.4:8500 $T kv put greeting hello; echo
echo "host5\$ curl 'http://127.0.0.5:8500/v1/kv/greeting?dc=dc1&raw'"; curl -s 'http://127.0.0.5:8500/v1/kv/greeting?dc=dc1&raw'; echo; echo
