package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcProbe asks a server's grpc.health.v1.Health service about the whole
// server, or about one service when the target is host:port/service. It
// is passing on SERVING and critical on anything else or on an error.
type grpcProbe struct {
	target  string // as defined, for the output
	server  string
	service string
	timeout time.Duration
	creds   credentials.TransportCredentials
}

func newGRPCProbe(target string, timeout time.Duration, tc *tls.Config) *grpcProbe {
	server, service, _ := strings.Cut(target, "/")
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	return &grpcProbe{target: target, server: server, service: service, timeout: timeout, creds: creds}
}

func (p *grpcProbe) Check(ctx context.Context) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// A new connection each time, as Consul does: a long-lived one would
	// carry its reconnect backoff from one probe into the next.
	conn, err := grpc.NewClient("passthrough:///"+p.server, grpc.WithTransportCredentials(p.creds))
	if err != nil {
		return Critical, err.Error()
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		return Critical, err.Error()
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Critical, fmt.Sprintf("gRPC %s serving status: %s", p.target, resp.GetStatus())
	}
	return Passing, fmt.Sprintf("gRPC check %s: success", p.target)
}
