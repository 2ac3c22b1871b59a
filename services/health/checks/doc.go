// Package checks runs the agent's health checks the way Consul's agent
// does: HTTP, TCP, gRPC and script probes on an interval, and TTL checks
// that applications refresh themselves.
//
// A Probe answers one question, "how is it now?", with a status and an
// output text worded as Consul words it (tools parse these texts). The
// Runner owns the running checks: it schedules each probe on its interval
// with a random initial stagger, bounds how many probes run at once,
// applies success_before_passing and failures_before_critical, expires
// TTL checks, and tells its owner about changes through callbacks. It
// holds no catalog state and deregisters nothing: the health service
// records what it is told and decides what to do.
//
// Where this differs from Consul, on purpose:
//   - Definitions are checked at registration: exactly one kind, valid
//     URL or address, no negative counts. Consul takes the first kind set
//     and lets a bad target fail at every probe.
//   - An HTTP probe keeps the first OutputMaxSize bytes of the body and
//     stops reading there; Consul reads the whole body and keeps the last.
//   - A script check's timeout defaults to 10 s like the others (the
//     definition's contract); Consul's defaults to 30 s.
//   - deregister_critical_service_after is timed exactly from the moment
//     the check turned critical; Consul's reaper looks every 30 s.
//   - Outputs are made valid UTF-8, which proto strings require.
package checks
