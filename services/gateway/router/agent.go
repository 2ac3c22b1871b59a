package router

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tribune/tribune/services/gateway/consul"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// ErrNoHealth is the answer to an agent call when the gateway has no
// health service to forward it to.
var ErrNoHealth = status.Error(codes.Unavailable, "No health service: the agent's services and checks are unavailable")

// Agent is the router's AgentService: it forwards each call to the local
// health service, which keeps the agent's own services and checks, and
// applies ListServices' and ListChecks' filter to what it returns (on
// Consul's AgentService and HealthCheck shapes, as Consul filters them).
// There is no datacenter to check: the agent API is always the local
// agent's, as in Consul.
//
// Its methods are safe for concurrent use.
type Agent struct {
	agentv1.UnimplementedAgentServiceServer

	// client is nil when no health service is configured.
	client agentv1.AgentServiceClient
}

var _ agentv1.AgentServiceServer = (*Agent)(nil)

func (a *Agent) upstream() (agentv1.AgentServiceClient, error) {
	if a.client == nil {
		return nil, ErrNoHealth
	}
	return a.client, nil
}

// Self forwards a description of the agent.
func (a *Agent) Self(ctx context.Context, req *agentv1.SelfRequest) (*agentv1.SelfResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.Self(ctx, req)
}

// ListServices forwards a listing of the agent's services and filters it
// (selectors of AgentService: Service, Tags, Meta.x, Port, ...). The
// health service is asked for everything: the filter is the router's.
func (a *Agent) ListServices(ctx context.Context, req *agentv1.ListServicesRequest) (*agentv1.ListServicesResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	m, err := matcher[*consul.AgentService](req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp, err := c.ListServices(ctx, &agentv1.ListServicesRequest{})
	if err != nil {
		return nil, err
	}
	if resp.Services, err = keepValues(m, resp.GetServices(), consul.ServiceFromProto); err != nil {
		return nil, err
	}
	return resp, nil
}

// GetService forwards a read of one service.
func (a *Agent) GetService(ctx context.Context, req *agentv1.GetServiceRequest) (*agentv1.GetServiceResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.GetService(ctx, req)
}

// RegisterService forwards a registration.
func (a *Agent) RegisterService(ctx context.Context, req *agentv1.RegisterServiceRequest) (*agentv1.RegisterServiceResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.RegisterService(ctx, req)
}

// DeregisterService forwards a deregistration.
func (a *Agent) DeregisterService(ctx context.Context, req *agentv1.DeregisterServiceRequest) (*agentv1.DeregisterServiceResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.DeregisterService(ctx, req)
}

// ListChecks forwards a listing of the agent's checks and filters it
// (selectors of HealthCheck: Status, ServiceName, ServiceTags, ...).
func (a *Agent) ListChecks(ctx context.Context, req *agentv1.ListChecksRequest) (*agentv1.ListChecksResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	m, err := matcher[*consul.HealthCheck](req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp, err := c.ListChecks(ctx, &agentv1.ListChecksRequest{})
	if err != nil {
		return nil, err
	}
	if resp.Checks, err = keepValues(m, resp.GetChecks(), consul.CheckFromProto); err != nil {
		return nil, err
	}
	return resp, nil
}

// RegisterCheck forwards a check registration.
func (a *Agent) RegisterCheck(ctx context.Context, req *agentv1.RegisterCheckRequest) (*agentv1.RegisterCheckResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.RegisterCheck(ctx, req)
}

// DeregisterCheck forwards a check deregistration.
func (a *Agent) DeregisterCheck(ctx context.Context, req *agentv1.DeregisterCheckRequest) (*agentv1.DeregisterCheckResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.DeregisterCheck(ctx, req)
}

// UpdateCheck forwards a TTL check update.
func (a *Agent) UpdateCheck(ctx context.Context, req *agentv1.UpdateCheckRequest) (*agentv1.UpdateCheckResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.UpdateCheck(ctx, req)
}

// SetMaintenance forwards a maintenance switch.
func (a *Agent) SetMaintenance(ctx context.Context, req *agentv1.SetMaintenanceRequest) (*agentv1.SetMaintenanceResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.SetMaintenance(ctx, req)
}

// ServiceHealth forwards a read of local instances' health.
func (a *Agent) ServiceHealth(ctx context.Context, req *agentv1.ServiceHealthRequest) (*agentv1.ServiceHealthResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.ServiceHealth(ctx, req)
}

// Reload forwards a configuration reload.
func (a *Agent) Reload(ctx context.Context, req *agentv1.ReloadRequest) (*agentv1.ReloadResponse, error) {
	c, err := a.upstream()
	if err != nil {
		return nil, err
	}
	return c.Reload(ctx, req)
}

// keepValues returns the entries of in whose values' Consul shape m
// matches.
func keepValues[P comparable, C any](m *consul.Matcher[C], in map[string]P, shape func(P) C) (map[string]P, error) {
	if m == nil {
		return in, nil
	}
	var zero P
	out := make(map[string]P, len(in))
	for k, p := range in {
		if p == zero {
			continue
		}
		ok, err := m.Match(shape(p))
		if err != nil {
			return nil, filterStatus(err)
		}
		if ok {
			out[k] = p
		}
	}
	return out, nil
}
