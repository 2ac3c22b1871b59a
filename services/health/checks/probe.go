package checks

import (
	"context"
	"crypto/tls"
	"fmt"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// Probe looks at a check's target once. Check returns passing, warning or
// critical and an output text of about Config.OutputMaxSize bytes at
// most, valid UTF-8; it returns (critical) once the check's timeout has passed or ctx
// has ended, a script check after at most a second more for its output. A Probe is safe for concurrent use, but the Runner never
// runs two Checks of the same probe at once.
type Probe interface {
	Check(ctx context.Context) (status, output string)
}

var (
	_ Probe = (*httpProbe)(nil)
	_ Probe = (*tcpProbe)(nil)
	_ Probe = (*grpcProbe)(nil)
	_ Probe = (*scriptProbe)(nil)
)

// NewProbe validates def (see ValidateDefinition) and returns the probe
// for its HTTP, TCP, gRPC or script check. A TTL check has no probe: its
// status comes from UpdateTTL, so NewProbe refuses it.
func NewProbe(def *agentv1.CheckDefinition, cfg Config) (Probe, error) {
	s, err := parse(def, cfg)
	if err != nil {
		return nil, err
	}
	return newProbe(def, s, cfg)
}

func newProbe(def *agentv1.CheckDefinition, s *spec, cfg Config) (Probe, error) {
	limit := cfg.OutputMaxSize
	if limit < 1 {
		limit = DefaultOutputMax
	}
	switch s.kind {
	case KindHTTP:
		return newHTTPProbe(def, s.timeout, limit, tlsConfig(cfg.TLS, def.TlsSkipVerify)), nil
	case KindTCP:
		return &tcpProbe{addr: def.Tcp, timeout: s.timeout}, nil
	case KindGRPC:
		var tc *tls.Config
		if def.GrpcUseTls {
			tc = tlsConfig(cfg.TLS, def.TlsSkipVerify)
		}
		return newGRPCProbe(def.Grpc, s.timeout, tc), nil
	case KindScript:
		return &scriptProbe{args: append([]string(nil), def.Args...), timeout: s.timeout, max: limit}, nil
	}
	return nil, fmt.Errorf("check %q: a TTL check has no probe: its status comes from UpdateTTL", s.id)
}

func tlsConfig(base *tls.Config, skipVerify bool) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	c.InsecureSkipVerify = skipVerify //nolint:gosec // the check's own tls_skip_verify, as in Consul
	return c
}
