// Package deploy holds Tribune's container image (Dockerfile, build.sh),
// the two-datacenter compose file and its demo (demo.sh), and the fault
// tests that run against them: network partitions, a killed leader, a cut
// WAN link and a rolling restart, across real container networks. The
// tests need Docker and docker-compose (or `docker compose`) and skip
// without them.
package deploy
