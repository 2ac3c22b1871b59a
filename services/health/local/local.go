// Package local holds the agent's own services and checks: their
// definitions, each check's current status and output, and maintenance
// mode. Definitions registered through the API are persisted in the data
// directory and restored at start; those from configuration files are
// reloaded from the files. Check statuses are not persisted: a check
// restarts in its initial status (critical unless its definition says
// otherwise), as Consul's do, until its first probe or TTL update.
package local

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// Check states.
const (
	Passing     = "passing"
	Warning     = "warning"
	Critical    = "critical"
	Maintenance = "maintenance"
)

// Source says where a definition came from.
type Source int

const (
	// FromAPI definitions were registered through the agent's API and are
	// persisted by the agent.
	FromAPI Source = iota
	// FromFile definitions come from configuration files and are replaced
	// on reload.
	FromFile
)

// Errors of state operations; test with errors.Is.
var (
	ErrUnknownService = errors.New("unknown service")
	ErrUnknownCheck   = errors.New("unknown check")
)

// Service is a local service: its definition (checks not included) and
// where it came from.
type Service struct {
	Def    *agentv1.ServiceDefinition
	Source Source
}

// Check is a local check: its definition, current status and output.
type Check struct {
	Def    *agentv1.CheckDefinition
	Source Source
	Status string
	Output string
}

// State is the agent's local services and checks. Its methods are safe
// for concurrent use; every change signals Changed.
type State struct {
	dir string // where API definitions persist; empty: not persisted

	mu       sync.Mutex
	services map[string]*Service
	checks   map[string]*Check
	changed  chan struct{}
	// The IDs whose files may be out of date: those changed, and those
	// whose write failed, so that the next change retries them.
	pendingServices map[string]bool
	pendingChecks   map[string]bool
}

// New returns an empty State persisting to dir, a file per API service
// in dir/services and per API check in dir/checks (not at all when dir
// is empty).
func New(dir string) *State {
	return &State{
		dir:      dir,
		services: map[string]*Service{}, checks: map[string]*Check{}, changed: make(chan struct{}, 1),
		pendingServices: map[string]bool{}, pendingChecks: map[string]bool{},
	}
}

// Changed returns a channel that receives after changes; several changes
// may be signalled once.
func (s *State) Changed() <-chan struct{} { return s.changed }

func (s *State) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// initialStatus is the status a check starts in.
func initialStatus(def *agentv1.CheckDefinition) string {
	if def.Status != "" {
		return def.Status
	}
	return Critical
}

// AddService adds or replaces a service with its checks (given apart, with
// their IDs and ServiceID filled in). With replaceChecks, the service's
// other checks are removed; their IDs are returned. It persists API
// definitions.
func (s *State) AddService(def *agentv1.ServiceDefinition, checks []*agentv1.CheckDefinition, src Source, replaceChecks bool) (removed []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	def = proto.Clone(def).(*agentv1.ServiceDefinition)
	def.Checks = nil
	s.services[def.Id] = &Service{Def: def, Source: src}
	s.touchService(def.Id)
	keep := map[string]bool{}
	for _, c := range checks {
		keep[c.CheckId] = true
		s.putCheck(c, src)
	}
	if replaceChecks {
		for id, c := range s.checks {
			if c.Def.ServiceId == def.Id && !keep[id] {
				delete(s.checks, id)
				s.touchCheck(id)
				removed = append(removed, id)
			}
		}
	}
	s.signal()
	return removed, s.persist()
}

// putCheck stores a check, keeping the status of an unchanged running one.
func (s *State) putCheck(def *agentv1.CheckDefinition, src Source) {
	def = proto.Clone(def).(*agentv1.CheckDefinition)
	s.touchCheck(def.CheckId) // even unchanged, its source may have changed
	if old, ok := s.checks[def.CheckId]; ok && proto.Equal(old.Def, def) {
		old.Source = src
		return
	}
	s.checks[def.CheckId] = &Check{Def: def, Source: src, Status: initialStatus(def)}
}

// RemoveService removes a service and its checks, and returns the IDs of
// the checks.
func (s *State) RemoveService(id string) (removed []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.services[id]; !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, id)
	}
	delete(s.services, id)
	s.touchService(id)
	for cid, c := range s.checks {
		if c.Def.ServiceId == id {
			delete(s.checks, cid)
			s.touchCheck(cid)
			removed = append(removed, cid)
		}
	}
	s.signal()
	return removed, s.persist()
}

// AddCheck adds or replaces a check. A service check needs its service.
func (s *State) AddCheck(def *agentv1.CheckDefinition, src Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if def.ServiceId != "" {
		if _, ok := s.services[def.ServiceId]; !ok {
			return fmt.Errorf("%w %q for check %q", ErrUnknownService, def.ServiceId, def.CheckId)
		}
	}
	s.putCheck(def, src)
	s.signal()
	return s.persist()
}

// RemoveCheck removes a check.
func (s *State) RemoveCheck(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.checks[id]; !ok {
		return fmt.Errorf("%w %q", ErrUnknownCheck, id)
	}
	delete(s.checks, id)
	s.touchCheck(id)
	s.signal()
	return s.persist()
}

// SetStatus records a check's status and output; it reports whether they
// changed.
func (s *State) SetStatus(id, status, output string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checks[id]
	if !ok || (c.Status == status && c.Output == output) {
		return false
	}
	c.Status, c.Output = status, output
	s.signal()
	return true
}

// Service returns a copy of a service, or nil.
func (s *State) Service(id string) *Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.services[id]
	if !ok {
		return nil
	}
	c := *v
	return &c
}

// Check returns a copy of a check, or nil.
func (s *State) Check(id string) *Check {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checks[id]
	if !ok {
		return nil
	}
	cc := *c
	return &cc
}

// Services returns copies of the services, by ID.
func (s *State) Services() []*Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Service, 0, len(s.services))
	for _, id := range slices.Sorted(maps.Keys(s.services)) {
		c := *s.services[id]
		out = append(out, &c)
	}
	return out
}

// Checks returns copies of the checks, by ID.
func (s *State) Checks() []*Check {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Check, 0, len(s.checks))
	for _, id := range slices.Sorted(maps.Keys(s.checks)) {
		c := *s.checks[id]
		out = append(out, &c)
	}
	return out
}

// FileDefinitions returns the IDs of the services and checks that came
// from configuration files.
func (s *State) FileDefinitions() (services, checks []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range s.services {
		if v.Source == FromFile {
			services = append(services, id)
		}
	}
	for id, c := range s.checks {
		if c.Source == FromFile {
			checks = append(checks, id)
		}
	}
	sort.Strings(services)
	sort.Strings(checks)
	return services, checks
}

// CatalogService is a service as the catalog holds it.
func CatalogService(def *agentv1.ServiceDefinition) *registryv1.Service {
	w := def.Weights
	if w == nil {
		w = &registryv1.Weights{Passing: 1, Warning: 1}
	}
	return &registryv1.Service{
		Id: def.Id, Service: def.Name, Tags: def.Tags, Address: def.Address, Port: def.Port,
		Meta: def.Meta, TaggedAddresses: def.TaggedAddresses, Weights: w,
		EnableTagOverride: def.EnableTagOverride, Kind: def.Kind,
	}
}

// CheckType is Consul's name for the kind of a check definition.
func CheckType(def *agentv1.CheckDefinition) string {
	switch {
	case def.Ttl != nil:
		return "ttl"
	case def.Http != "":
		return "http"
	case def.Tcp != "":
		return "tcp"
	case def.Grpc != "":
		return "grpc"
	case len(def.Args) > 0:
		return "script"
	}
	return ""
}

// CatalogCheck is a check as the catalog holds it, for node.
func (c *Check) CatalogCheck(node string) *registryv1.Check {
	d := c.Def
	out := &registryv1.Check{
		Node: node, CheckId: d.CheckId, Name: d.Name, Status: c.Status, Notes: d.Notes,
		Output: c.Output, ServiceId: d.ServiceId, Type: CheckType(d),
		Definition: &registryv1.CheckDefinition{
			Http: d.Http, Tcp: d.Tcp, Grpc: d.Grpc, Method: d.Method, Header: d.Header, Body: d.Body,
			TlsSkipVerify: d.TlsSkipVerify, GrpcUseTls: d.GrpcUseTls,
		},
	}
	if d.Interval != nil {
		out.Definition.Interval = d.Interval.AsDuration().String()
	}
	if d.Timeout != nil {
		out.Definition.Timeout = d.Timeout.AsDuration().String()
	}
	if d.Ttl != nil {
		out.Definition.Ttl = d.Ttl.AsDuration().String()
	}
	if d.DeregisterCriticalServiceAfter != nil {
		out.Definition.DeregisterCriticalServiceAfter = d.DeregisterCriticalServiceAfter.AsDuration().String()
	}
	return out
}
