// Package health runs the health service: the agent's own services and
// checks, persisted in its data directory, probed on their intervals and
// kept in sync with the catalog.
//
// The parts live where their names say: checks (the probes and the runner
// that schedules them), local (the agent's state and its persistence),
// catalogsync (pushing changes and anti-entropy), server (the gRPC API).
package health
