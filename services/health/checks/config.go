package checks

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// Config is the Runner's configuration. Start from DefaultConfig; the
// zero value is not valid.
type Config struct {
	// EnableScriptChecks allows checks that run a command (args). Off by
	// default, as Consul's enable_script_checks: anyone who can register a
	// check could otherwise run commands as the agent.
	EnableScriptChecks bool

	// MaxConcurrentProbes bounds how many probes run at once across all
	// checks, so that a node with thousands of checks neither exhausts
	// its file descriptors nor starves the agent of CPU.
	MaxConcurrentProbes int

	// MinInterval is the shortest interval a probed check runs at; shorter
	// intervals are raised to it, as Consul raises them to 1 s (it guards
	// against fork-bombing the node with script checks). Tests lower it.
	MinInterval time.Duration

	// MinDeregisterCriticalServiceAfter is the shortest
	// deregister_critical_service_after honoured; shorter ones are raised
	// to it, as Consul's check_deregister_interval_min (1 m) does. Tests
	// lower it.
	MinDeregisterCriticalServiceAfter time.Duration

	// OutputMaxSize bounds a check's output in bytes: Consul's
	// check_output_max_size, 4096 by default.
	OutputMaxSize int

	// TLS is the base TLS configuration of HTTPS and gRPC-over-TLS
	// probes (root CAs, client certificate); nil uses the system roots.
	// It is cloned, and a check's tls_skip_verify applied to the clone.
	TLS *tls.Config
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{
		EnableScriptChecks:                false,            // Consul >= 0.9 needs enable_script_checks
		MaxConcurrentProbes:               64,               // a 2-core node copes with this many sockets or processes in flight
		MinInterval:                       time.Second,      // Consul's checks.MinInterval
		MinDeregisterCriticalServiceAfter: time.Minute,      // Consul's check_deregister_interval_min
		OutputMaxSize:                     DefaultOutputMax, // Consul's check_output_max_size
	}
}

// DefaultOutputMax is Consul's default bound on a check's output.
const DefaultOutputMax = 4096

// Validate reports a configuration the Runner cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConcurrentProbes < 1 {
		errs = append(errs, fmt.Errorf("checks: MaxConcurrentProbes must be at least 1 (got %d)", c.MaxConcurrentProbes))
	}
	if c.MinInterval < 0 {
		errs = append(errs, fmt.Errorf("checks: MinInterval must not be negative (got %s)", c.MinInterval))
	}
	if c.MinDeregisterCriticalServiceAfter < 0 {
		errs = append(errs, fmt.Errorf("checks: MinDeregisterCriticalServiceAfter must not be negative (got %s)", c.MinDeregisterCriticalServiceAfter))
	}
	if c.OutputMaxSize < 1 {
		errs = append(errs, fmt.Errorf("checks: OutputMaxSize must be at least 1 (got %d)", c.OutputMaxSize))
	}
	return errors.Join(errs...)
}
