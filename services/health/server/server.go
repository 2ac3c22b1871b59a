// Package server is the health service's gRPC server: AgentService over
// the agent's local state and its check runner.
package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/health/local"
)

// Runner is what the server needs of the check runner. Its methods are
// safe for concurrent use.
type Runner interface {
	// Validate reports a definition that cannot run, naming the field.
	Validate(def *agentv1.CheckDefinition) error
	// Add starts (or restarts) probing a check, starting from status.
	Add(def *agentv1.CheckDefinition, status string) error
	// Remove stops a check.
	Remove(checkID string)
	// UpdateTTL refreshes a TTL check; an unknown or non-TTL check is an
	// error.
	UpdateTTL(checkID, status, output string) error
}

// Loader reads the configuration files' definitions (for Reload).
type Loader func() ([]*agentv1.ServiceDefinition, []*agentv1.CheckDefinition, error)

// Maintenance check IDs, as in Consul.
const (
	NodeMaintenanceID         = "_node_maintenance"
	ServiceMaintenancePrefix  = "_service_maintenance:"
	defaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
	defaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
)

// Server implements AgentService.
type Server struct {
	agentv1.UnimplementedAgentServiceServer

	self   *agentv1.SelfResponse
	state  *local.State
	runner Runner
	load   Loader
}

// New returns a Server. load may be nil when there are no configuration
// files.
func New(self *agentv1.SelfResponse, state *local.State, runner Runner, load Loader) (*Server, error) {
	if self == nil || self.NodeName == "" {
		return nil, errors.New("server: self needs a node name")
	}
	if state == nil || runner == nil {
		return nil, errors.New("server: state and runner are required")
	}
	return &Server{self: self, state: state, runner: runner, load: load}, nil
}

// AddTo adds the server's service to g.
func (s *Server) AddTo(g grpc.ServiceRegistrar) { agentv1.RegisterAgentServiceServer(g, s) }

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

var validStatus = []string{local.Passing, local.Warning, local.Critical}

// NormalizeService validates a service definition and fills in Consul's
// defaults: the ID (the name), its checks' IDs ("service:<id>", or
// "service:<id>:<n>" for several), names and ServiceID. It returns the
// service without its checks, and the checks.
func NormalizeService(def *agentv1.ServiceDefinition) (*agentv1.ServiceDefinition, []*agentv1.CheckDefinition, error) {
	if def == nil || def.Name == "" {
		return nil, nil, errors.New("Missing service name")
	}
	def = proto.Clone(def).(*agentv1.ServiceDefinition)
	if def.Id == "" {
		def.Id = def.Name
	}
	if def.Port < 0 || def.Port > 65535 {
		return nil, nil, fmt.Errorf("Invalid service port %d: must be 0-65535", def.Port)
	}
	checks := def.Checks
	def.Checks = nil
	for i, c := range checks {
		if c.CheckId == "" {
			c.CheckId = "service:" + def.Id
			if len(checks) > 1 {
				c.CheckId += ":" + strconv.Itoa(i+1)
			}
		}
		if c.Name == "" {
			c.Name = "Service '" + def.Name + "' check"
		}
		c.ServiceId = def.Id
		if err := NormalizeCheck(c); err != nil {
			return nil, nil, err
		}
	}
	return def, checks, nil
}

// NormalizeCheck validates a check's identity and initial status and fills
// in its ID (its name by default).
func NormalizeCheck(c *agentv1.CheckDefinition) error {
	if c.CheckId == "" {
		c.CheckId = c.Name
	}
	if c.CheckId == "" {
		return errors.New("Missing check name")
	}
	if c.Name == "" {
		c.Name = c.CheckId
	}
	if c.Status != "" && !slices.Contains(validStatus, c.Status) {
		return fmt.Errorf("Invalid check status %q: must be passing, warning or critical", c.Status)
	}
	return nil
}

// apply starts the checks that are new or changed and stops the removed.
func (s *Server) start(checks []*agentv1.CheckDefinition, before map[string]*agentv1.CheckDefinition) error {
	for _, c := range checks {
		if old, ok := before[c.CheckId]; ok && proto.Equal(old, c) {
			continue // running already, unchanged
		}
		cur := s.state.Check(c.CheckId)
		if err := s.runner.Add(c, cur.Status); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
	return nil
}

func (s *Server) definitions(ids []string) map[string]*agentv1.CheckDefinition {
	out := map[string]*agentv1.CheckDefinition{}
	for _, id := range ids {
		if c := s.state.Check(id); c != nil {
			out[id] = c.Def
		}
	}
	return out
}

func checkIDs(cs []*agentv1.CheckDefinition) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.CheckId
	}
	return ids
}

// AddService validates and applies a service definition from src.
func (s *Server) AddService(def *agentv1.ServiceDefinition, replace bool, src local.Source) error {
	svc, checks, err := NormalizeService(def)
	if err != nil {
		return invalid("%v", err)
	}
	for _, c := range checks {
		if err := s.runner.Validate(c); err != nil {
			return invalid("Invalid check: %v", err)
		}
	}
	before := s.definitions(checkIDs(checks))
	removed, err := s.state.AddService(svc, checks, src, replace)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, id := range removed {
		s.runner.Remove(id)
	}
	return s.start(checks, before)
}

// AddCheck validates and applies a check definition from src.
func (s *Server) AddCheck(def *agentv1.CheckDefinition, src local.Source) error {
	def = proto.Clone(def).(*agentv1.CheckDefinition)
	if err := NormalizeCheck(def); err != nil {
		return invalid("%v", err)
	}
	if err := s.runner.Validate(def); err != nil {
		return invalid("Invalid check: %v", err)
	}
	before := s.definitions([]string{def.CheckId})
	if err := s.state.AddCheck(def, src); err != nil {
		if errors.Is(err, local.ErrUnknownService) {
			return invalid("ServiceID %q does not exist", def.ServiceId)
		}
		return status.Error(codes.Internal, err.Error())
	}
	return s.start([]*agentv1.CheckDefinition{def}, before)
}

// Self describes the agent.
func (s *Server) Self(context.Context, *agentv1.SelfRequest) (*agentv1.SelfResponse, error) {
	return s.self, nil
}

// ListServices lists the agent's services.
func (s *Server) ListServices(context.Context, *agentv1.ListServicesRequest) (*agentv1.ListServicesResponse, error) {
	out := &agentv1.ListServicesResponse{Services: map[string]*registryv1.Service{}}
	for _, v := range s.state.Services() {
		out.Services[v.Def.Id] = local.CatalogService(v.Def)
	}
	return out, nil
}

// GetService returns one of the agent's services.
func (s *Server) GetService(_ context.Context, req *agentv1.GetServiceRequest) (*agentv1.GetServiceResponse, error) {
	v := s.state.Service(req.ServiceId)
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "unknown service ID: %s", req.ServiceId)
	}
	return &agentv1.GetServiceResponse{Service: local.CatalogService(v.Def)}, nil
}

// RegisterService adds or replaces a service and its checks.
func (s *Server) RegisterService(_ context.Context, req *agentv1.RegisterServiceRequest) (*agentv1.RegisterServiceResponse, error) {
	if err := s.AddService(req.Service, req.ReplaceExistingChecks, local.FromAPI); err != nil {
		return nil, err
	}
	return &agentv1.RegisterServiceResponse{}, nil
}

// RemoveService removes a service and stops its checks.
func (s *Server) RemoveService(id string) error {
	removed, err := s.state.RemoveService(id)
	if errors.Is(err, local.ErrUnknownService) {
		return status.Errorf(codes.NotFound, "Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, c := range removed {
		s.runner.Remove(c)
	}
	return nil
}

// DeregisterService removes a service and its checks.
func (s *Server) DeregisterService(_ context.Context, req *agentv1.DeregisterServiceRequest) (*agentv1.DeregisterServiceResponse, error) {
	if err := s.RemoveService(req.ServiceId); err != nil {
		return nil, err
	}
	return &agentv1.DeregisterServiceResponse{}, nil
}

// ListChecks lists the agent's checks.
func (s *Server) ListChecks(context.Context, *agentv1.ListChecksRequest) (*agentv1.ListChecksResponse, error) {
	out := &agentv1.ListChecksResponse{Checks: map[string]*registryv1.Check{}}
	for _, c := range s.state.Checks() {
		out.Checks[c.Def.CheckId] = s.catalogCheck(c)
	}
	return out, nil
}

// catalogCheck is a local check as the API shows it, with its service's
// name and tags.
func (s *Server) catalogCheck(c *local.Check) *registryv1.Check {
	out := c.CatalogCheck(s.self.NodeName)
	if v := s.state.Service(c.Def.ServiceId); v != nil {
		out.ServiceName, out.ServiceTags = v.Def.Name, v.Def.Tags
	}
	return out
}

// RegisterCheck adds or replaces a check.
func (s *Server) RegisterCheck(_ context.Context, req *agentv1.RegisterCheckRequest) (*agentv1.RegisterCheckResponse, error) {
	if req.Check == nil {
		return nil, invalid("Missing check")
	}
	if err := s.AddCheck(req.Check, local.FromAPI); err != nil {
		return nil, err
	}
	return &agentv1.RegisterCheckResponse{}, nil
}

// DeregisterCheck removes a check.
func (s *Server) DeregisterCheck(_ context.Context, req *agentv1.DeregisterCheckRequest) (*agentv1.DeregisterCheckResponse, error) {
	if err := s.state.RemoveCheck(req.CheckId); err != nil {
		if errors.Is(err, local.ErrUnknownCheck) {
			return nil, status.Errorf(codes.NotFound, "Unknown check ID %q. Ensure that the check ID is passed, not the check name.", req.CheckId)
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.runner.Remove(req.CheckId)
	return &agentv1.DeregisterCheckResponse{}, nil
}

// UpdateCheck sets a TTL check's status and output.
func (s *Server) UpdateCheck(_ context.Context, req *agentv1.UpdateCheckRequest) (*agentv1.UpdateCheckResponse, error) {
	if !slices.Contains(validStatus, req.Status) {
		return nil, invalid("Invalid check status: '%s'", req.Status)
	}
	c := s.state.Check(req.CheckId)
	if c == nil {
		return nil, invalid("Unknown check ID %q", req.CheckId)
	}
	if c.Def.Ttl == nil {
		return nil, invalid("CheckID %q does not have associated TTL", req.CheckId)
	}
	// The runner bounds the output as Consul does.
	if err := s.runner.UpdateTTL(req.CheckId, req.Status, req.Output); err != nil {
		return nil, invalid("%v", err)
	}
	return &agentv1.UpdateCheckResponse{}, nil
}

// SetMaintenance puts a service, or the node, in or out of maintenance:
// a critical check that keeps it out of passing results.
func (s *Server) SetMaintenance(_ context.Context, req *agentv1.SetMaintenanceRequest) (*agentv1.SetMaintenanceResponse, error) {
	id, name, reason := NodeMaintenanceID, "Node Maintenance Mode", defaultNodeMaintReason
	if req.ServiceId != "" {
		if s.state.Service(req.ServiceId) == nil {
			return nil, status.Errorf(codes.NotFound, "No service registered with ID %q", req.ServiceId)
		}
		id, name, reason = ServiceMaintenancePrefix+req.ServiceId, "Service Maintenance Mode", defaultServiceMaintReason
	}
	if !req.Enable {
		if err := s.state.RemoveCheck(id); err != nil && !errors.Is(err, local.ErrUnknownCheck) {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &agentv1.SetMaintenanceResponse{}, nil
	}
	if s.state.Check(id) != nil {
		return &agentv1.SetMaintenanceResponse{}, nil // already on, as in Consul
	}
	if req.Reason != "" {
		reason = req.Reason
	}
	def := &agentv1.CheckDefinition{CheckId: id, Name: name, Notes: reason, ServiceId: req.ServiceId, Status: local.Critical}
	if err := s.state.AddCheck(def, local.FromAPI); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &agentv1.SetMaintenanceResponse{}, nil
}

// rank orders statuses from best to worst, as Consul's AggregatedStatus.
var rank = map[string]int{local.Passing: 0, local.Warning: 1, local.Critical: 2, local.Maintenance: 3}

// ServiceHealth aggregates the health of local instances of a service.
func (s *Server) ServiceHealth(_ context.Context, req *agentv1.ServiceHealthRequest) (*agentv1.ServiceHealthResponse, error) {
	var svcs []*local.Service
	for _, v := range s.state.Services() {
		if (req.ServiceId != "" && v.Def.Id == req.ServiceId) || (req.ServiceId == "" && v.Def.Name == req.ServiceName) {
			svcs = append(svcs, v)
		}
	}
	if len(svcs) == 0 {
		if req.ServiceId != "" {
			return nil, status.Errorf(codes.NotFound, "ServiceId %s not found", req.ServiceId)
		}
		return nil, status.Errorf(codes.NotFound, "ServiceName %s Not Found", req.ServiceName)
	}
	checks := s.state.Checks()
	out := &agentv1.ServiceHealthResponse{AggregatedStatus: local.Passing}
	for _, v := range svcs {
		in := &agentv1.InstanceHealth{AggregatedStatus: local.Passing, Service: local.CatalogService(v.Def)}
		for _, c := range checks {
			if c.Def.ServiceId != v.Def.Id && c.Def.CheckId != NodeMaintenanceID {
				continue
			}
			in.Checks = append(in.Checks, s.catalogCheck(c))
			st := c.Status
			if c.Def.CheckId == NodeMaintenanceID || c.Def.CheckId == ServiceMaintenancePrefix+v.Def.Id {
				st = local.Maintenance
			}
			if rank[st] > rank[in.AggregatedStatus] {
				in.AggregatedStatus = st
			}
		}
		if rank[in.AggregatedStatus] > rank[out.AggregatedStatus] {
			out.AggregatedStatus = in.AggregatedStatus
		}
		out.Instances = append(out.Instances, in)
	}
	return out, nil
}

// Reload reads the configuration files again: their services and checks
// replace those from the files before; API registrations stay. An invalid
// file changes nothing.
func (s *Server) Reload(context.Context, *agentv1.ReloadRequest) (*agentv1.ReloadResponse, error) {
	if err := s.ReloadFiles(); err != nil {
		return nil, err
	}
	return &agentv1.ReloadResponse{}, nil
}

// ReloadFiles applies the configuration files' definitions.
func (s *Server) ReloadFiles() error {
	if s.load == nil {
		return nil
	}
	svcs, checks, err := s.load()
	if err != nil {
		return invalid("%v", err)
	}
	// Validate everything before changing anything.
	for _, def := range svcs {
		_, cs, err := NormalizeService(def)
		if err != nil {
			return invalid("service %q: %v", def.GetName(), err)
		}
		for _, c := range cs {
			if err := s.runner.Validate(c); err != nil {
				return invalid("service %q: Invalid check: %v", def.Name, err)
			}
		}
	}
	for _, c := range checks {
		c = proto.Clone(c).(*agentv1.CheckDefinition)
		if err := NormalizeCheck(c); err != nil {
			return invalid("%v", err)
		}
		if err := s.runner.Validate(c); err != nil {
			return invalid("Invalid check: %v", err)
		}
	}
	oldSvcs, oldChecks := s.state.FileDefinitions()
	keepSvc, keepCheck := map[string]bool{}, map[string]bool{}
	for _, def := range svcs {
		if err := s.AddService(def, true, local.FromFile); err != nil {
			return err
		}
		id := def.Id
		if id == "" {
			id = def.Name
		}
		keepSvc[id] = true
	}
	for _, c := range checks {
		if err := s.AddCheck(c, local.FromFile); err != nil {
			return err
		}
		keepCheck[c.CheckId] = true
		if c.CheckId == "" {
			keepCheck[c.Name] = true
		}
	}
	for _, id := range oldSvcs {
		if !keepSvc[id] {
			_ = s.RemoveService(id)
		}
	}
	for _, id := range oldChecks {
		if c := s.state.Check(id); c != nil && !keepCheck[id] && !keepSvc[c.Def.ServiceId] {
			_ = s.state.RemoveCheck(id)
			s.runner.Remove(id)
		}
	}
	return nil
}
