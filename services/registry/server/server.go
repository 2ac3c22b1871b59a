// Package server is the registry service's gRPC server: RegistryService
// and StatusService over a replicated fsm.FSM. Registrations are validated
// and given Consul's defaults here, then proposed through Raft; reads run
// as fsm.Query functions and block as Consul's blocking queries do.
package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/blocking"
	"github.com/tribune/tribune/lib/nodeid"
	"github.com/tribune/tribune/lib/replica"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	fsmv1 "github.com/tribune/tribune/sdk/go/tribune/registry/fsm/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/fsm"
	"github.com/tribune/tribune/services/registry/store"
)

// Raft is what the server needs of its shard replica.
type Raft = replica.Raft

// Config holds the server's settings.
type Config struct {
	// Datacenter is given to nodes registered without one.
	Datacenter string
	Blocking   blocking.Config
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{Datacenter: "dc1", Blocking: blocking.DefaultConfig()}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Datacenter == "" {
		return fmt.Errorf("server: Datacenter is required")
	}
	return c.Blocking.Validate()
}

// Server implements RegistryService, and BatchService for the gateway of
// the same server (replica.StatusServer serves StatusService).
//
// A request is the server's once passed to it, Register's excepted: what
// it holds may become the store's records on this replica (see
// replica.Handoff), so a caller in the same process must not change it,
// or anything it points to, after the call. gRPC gives each call a
// request of its own.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	batchv1.UnimplementedBatchServiceServer

	cfg     Config
	raft    Raft
	hub     *blocking.Hub
	handoff *replica.Handoff
}

// New returns a Server over raft, whose state machine notifies hub. The
// server hands the commands it proposes to its replica's state machine
// through handoff, which may be nil.
func New(cfg Config, raft Raft, hub *blocking.Hub, handoff *replica.Handoff) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if raft == nil || hub == nil {
		return nil, fmt.Errorf("server: raft and hub are required")
	}
	return &Server{cfg: cfg, raft: raft, hub: hub, handoff: handoff}, nil
}

// AddTo adds the server's services to g.
func (s *Server) AddTo(g grpc.ServiceRegistrar) {
	registryv1.RegisterRegistryServiceServer(g, s)
	batchv1.RegisterBatchServiceServer(g, s)
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

var validStatus = map[string]bool{
	store.StatusPassing: true, store.StatusWarning: true, store.StatusCritical: true, store.StatusMaintenance: true,
}

// normalize validates a registration and fills in Consul's defaults: the
// datacenter, the service ID (its name), weights, check IDs (their names)
// and the checks' node. It fills them in req itself, whose records the
// returned command holds: a caller that keeps req passes a copy.
func (s *Server) normalize(req *registryv1.RegisterRequest) (*fsmv1.Register, error) {
	reg := &fsmv1.Register{SkipNodeUpdate: req.SkipNodeUpdate}
	node := req.GetNode()
	if node == nil || node.Node == "" {
		return nil, invalid("Must provide node")
	}
	if node.Address == "" && !req.SkipNodeUpdate {
		return nil, invalid("Must provide address if SkipNodeUpdate is not set")
	}
	if node.Id != "" {
		node.Id = strings.ToLower(node.Id)
		if err := nodeid.Validate(node.Id); err != nil {
			return nil, invalid("Bad node ID: %v", err)
		}
	}
	if node.Datacenter == "" {
		node.Datacenter = s.cfg.Datacenter
	}
	node.CreateIndex, node.ModifyIndex = 0, 0
	reg.Node = node
	if req.Service != nil {
		svc := req.Service
		switch {
		case svc.Service == "" && svc.Id != "":
			return nil, invalid("Must provide service name with ID")
		case svc.Service == "":
			return nil, invalid("Must provide service name")
		case svc.Port < 0 || svc.Port > 65535:
			return nil, invalid("Invalid service port %d", svc.Port)
		}
		if svc.Id == "" {
			svc.Id = svc.Service
		}
		if svc.Weights == nil {
			svc.Weights = &registryv1.Weights{Passing: 1, Warning: 1}
		}
		svc.CreateIndex, svc.ModifyIndex = 0, 0
		reg.Service = svc
	}
	for i, c := range req.Checks {
		if c.CheckId == "" {
			c.CheckId = c.Name
		}
		if c.CheckId == "" {
			return nil, invalid("Must provide a check ID or name")
		}
		if slices.ContainsFunc(req.Checks[:i], func(o *registryv1.Check) bool { return o.CheckId == c.CheckId }) {
			return nil, invalid("Duplicate check ID %q", c.CheckId)
		}
		if c.Node != "" && c.Node != node.Node {
			return nil, invalid("Check %q is for node %q, not %q", c.CheckId, c.Node, node.Node)
		}
		c.Node = node.Node
		if c.Status == "" {
			c.Status = store.StatusCritical
		}
		if !validStatus[c.Status] {
			return nil, invalid("Invalid check status: %q", c.Status)
		}
		c.CreateIndex, c.ModifyIndex = 0, 0
		reg.Checks = append(reg.Checks, c)
	}
	return reg, nil
}

// propose proposes cmd and returns its index.
func (s *Server) propose(ctx context.Context, cmd *fsmv1.Command) (uint64, error) {
	index, reason, err := s.proposeOne(ctx, cmd)
	switch {
	case err != nil:
		return 0, err
	case reason != "":
		return 0, refused(reason)
	}
	return index, nil
}

// proposeOne proposes cmd and returns its index, or the store's reason for
// refusing it.
func (s *Server) proposeOne(ctx context.Context, cmd *fsmv1.Command) (index uint64, reason string, err error) {
	res, err := s.handoff.Propose(ctx, s.raft, cmd, nil)
	if err != nil {
		return 0, "", err
	}
	if res.Value == fsm.Rejected {
		return 0, string(res.Data), nil
	}
	return res.Value, "", nil
}

// refused is the status of a command the store refused, from its reason.
func refused(reason string) error {
	return status.Error(codes.FailedPrecondition, strings.TrimPrefix(reason, store.ErrRejected.Error()+": "))
}

// Register adds or updates a node, a service instance and checks. It
// leaves req as it was: the agent's own callers reuse theirs.
func (s *Server) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	cmd, err := s.registerCommand(proto.Clone(req).(*registryv1.RegisterRequest))
	if err != nil {
		return nil, err
	}
	index, err := s.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return &registryv1.RegisterResponse{Index: index}, nil
}

// registerCommand checks a registration, which it may change (see
// normalize), and returns its command.
func (s *Server) registerCommand(req *registryv1.RegisterRequest) (*fsmv1.Command, error) {
	reg, err := s.normalize(req)
	if err != nil {
		return nil, err
	}
	return &fsmv1.Command{Op: &fsmv1.Command_Register{Register: reg}}, nil
}

// Deregister removes a node, a service instance or a check.
func (s *Server) Deregister(ctx context.Context, req *registryv1.DeregisterRequest) (*registryv1.DeregisterResponse, error) {
	cmd, err := deregisterCommand(req)
	if err != nil {
		return nil, err
	}
	index, err := s.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return &registryv1.DeregisterResponse{Index: index}, nil
}

func deregisterCommand(req *registryv1.DeregisterRequest) (*fsmv1.Command, error) {
	if req.Node == "" {
		return nil, invalid("Must provide node")
	}
	return &fsmv1.Command{Op: &fsmv1.Command_Deregister{Deregister: &fsmv1.Deregister{
		Node: req.Node, ServiceId: req.ServiceId, CheckId: req.CheckId,
	}}}, nil
}

// Write applies a batch of independent registrations and deregistrations
// as one Raft entry. An op that is refused on its own (bad input, a store
// refusal) gets its own error; a failure of the proposal (no leader, a
// timeout) fails the whole call, and then none of the ops was made.
func (s *Server) Write(ctx context.Context, req *batchv1.WriteRequest) (*batchv1.WriteResponse, error) {
	results := make([]*batchv1.Result, len(req.Ops))
	fail := func(i int, err error) {
		results[i] = &batchv1.Result{Result: &batchv1.Result_Error{Error: batch.WriteError(err)}}
	}
	cmds, at := batch.Split(req.Ops, s.command, fail)
	reasons, index, err := s.proposeAll(ctx, cmds)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		switch {
		case reasons[j] != "":
			fail(i, refused(reasons[j]))
		case req.Ops[i].GetRegister() != nil:
			results[i] = &batchv1.Result{Result: &batchv1.Result_Register{Register: &registryv1.RegisterResponse{Index: index}}}
		default:
			results[i] = &batchv1.Result{Result: &batchv1.Result_Deregister{Deregister: &registryv1.DeregisterResponse{Index: index}}}
		}
	}
	return &batchv1.WriteResponse{Results: results}, nil
}

// command checks a batch's op and returns its command.
func (s *Server) command(op *batchv1.Op) (*fsmv1.Command, error) {
	switch o := op.Op.(type) {
	case *batchv1.Op_Register:
		return s.registerCommand(o.Register)
	case *batchv1.Op_Deregister:
		return deregisterCommand(o.Deregister)
	}
	return nil, invalid("unknown batch op %T", op.Op)
}

// proposeAll proposes cmds as one entry (a Batch, unless there is only
// one) and returns why the store refused each ("" when it was made) and
// the entry's index.
func (s *Server) proposeAll(ctx context.Context, cmds []*fsmv1.Command) ([]string, uint64, error) {
	switch len(cmds) {
	case 0:
		return nil, 0, nil
	case 1:
		index, reason, err := s.proposeOne(ctx, cmds[0])
		return []string{reason}, index, err
	}
	var out fsmv1.BatchResult
	res, err := s.handoff.Propose(ctx, s.raft,
		&fsmv1.Command{Op: &fsmv1.Command_Batch{Batch: &fsmv1.Batch{Commands: cmds}}}, &out)
	if err != nil {
		return nil, 0, err
	}
	if len(out.Refused) == 0 {
		// Nothing was refused: the state machine leaves the result empty.
		return make([]string, len(cmds)), res.Value, nil
	}
	if len(out.Refused) != len(cmds) {
		return nil, 0, status.Errorf(codes.Internal, "registry: batch entry %d has %d results for %d commands", res.Value, len(out.Refused), len(cmds))
	}
	return out.Refused, res.Value, nil
}

// result is what a catalog query returns: its data and its index.
type result struct {
	v     any
	index uint64
}

// query runs q as a blocking query on topic with opts, and returns the
// data of its last run and the response metadata.
func (s *Server) query(ctx context.Context, opts *queryv1.QueryOptions, topic string, q func(*store.Store) result) (any, *queryv1.QueryMeta, error) {
	mode := opts.GetConsistency()
	var last result
	first := true
	index, err := blocking.Run(ctx, s.cfg.Blocking, opts.GetMinIndex(), opts.GetWait().AsDuration(),
		func(ctx context.Context, watch bool) (<-chan struct{}, uint64, error) {
			var changed <-chan struct{}
			if watch {
				changed = s.hub.Watch(topic)
			}
			query := fsm.Query(func(st *store.Store) any { return q(st) })
			v, err := replica.ReadFor(ctx, s.raft, mode == queryv1.Consistency_CONSISTENCY_STALE, first, query)
			first = false
			if err != nil {
				return nil, 0, err
			}
			last = v.(result)
			return changed, last.index, nil
		})
	if err != nil {
		return nil, nil, replica.Status(err)
	}
	_, known := s.raft.Leader()
	return last.v, &queryv1.QueryMeta{Index: max(index, 1), KnownLeader: known,
		LastContactMs: uint64(s.raft.LastContact().Milliseconds()), Consistency: mode}, nil
}

// metaTopic is the topic a table query watches: with a node-meta filter,
// a change to any node can change the answer too, so it watches everything
// (the hub's root) and relies on the index to tell real changes apart.
func metaTopic(table string, meta map[string]string) string {
	if len(meta) > 0 {
		return ""
	}
	return table
}

// ListNodes lists the nodes.
func (s *Server) ListNodes(ctx context.Context, req *registryv1.ListNodesRequest) (*registryv1.ListNodesResponse, error) {
	v, meta, err := s.query(ctx, req.Options, store.TopicNodes, func(st *store.Store) result {
		nodes, index := st.Nodes(req.NodeMeta)
		return result{nodes, index}
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.ListNodesResponse{Nodes: v.([]*registryv1.Node), Meta: meta}, nil
}

// ListServices lists the service names with their tags.
func (s *Server) ListServices(ctx context.Context, req *registryv1.ListServicesRequest) (*registryv1.ListServicesResponse, error) {
	v, meta, err := s.query(ctx, req.Options, metaTopic(store.TopicServices, req.NodeMeta), func(st *store.Store) result {
		svcs, index := st.Services(req.NodeMeta)
		return result{svcs, index}
	})
	if err != nil {
		return nil, err
	}
	out := &registryv1.ListServicesResponse{Services: map[string]*registryv1.ServiceTags{}, Meta: meta}
	for name, tags := range v.(map[string][]string) {
		out.Services[name] = &registryv1.ServiceTags{Tags: tags}
	}
	return out, nil
}

// ServiceNodes lists the instances of a service.
func (s *Server) ServiceNodes(ctx context.Context, req *registryv1.ServiceNodesRequest) (*registryv1.ServiceNodesResponse, error) {
	if req.Service == "" {
		return nil, invalid("Missing service name")
	}
	v, meta, err := s.query(ctx, req.Options, store.TopicService(req.Service), func(st *store.Store) result {
		insts, index := st.ServiceInstances(req.Service, req.Tags, req.NodeMeta)
		return result{insts, index}
	})
	if err != nil {
		return nil, err
	}
	insts := v.([]store.Instance)
	out := &registryv1.ServiceNodesResponse{Meta: meta, Instances: make([]*registryv1.ServiceInstance, len(insts))}
	for i, in := range insts {
		out.Instances[i] = &registryv1.ServiceInstance{Node: in.Node, Service: in.Service}
	}
	return out, nil
}

type nodeServices struct {
	node *registryv1.Node
	svcs []*registryv1.Service
}

// NodeServices returns a node with its services.
func (s *Server) NodeServices(ctx context.Context, req *registryv1.NodeServicesRequest) (*registryv1.NodeServicesResponse, error) {
	if req.Node == "" {
		return nil, invalid("Missing node name")
	}
	v, meta, err := s.query(ctx, req.Options, store.TopicNode(req.Node), func(st *store.Store) result {
		n, svcs, index := st.NodeServices(req.Node)
		return result{nodeServices{n, svcs}, index}
	})
	if err != nil {
		return nil, err
	}
	ns := v.(nodeServices)
	return &registryv1.NodeServicesResponse{Node: ns.node, Services: ns.svcs, Meta: meta}, nil
}

// NodeChecks lists a node's checks.
func (s *Server) NodeChecks(ctx context.Context, req *registryv1.NodeChecksRequest) (*registryv1.NodeChecksResponse, error) {
	if req.Node == "" {
		return nil, invalid("Missing node name")
	}
	v, meta, err := s.query(ctx, req.Options, store.TopicNode(req.Node), func(st *store.Store) result {
		cs, index := st.NodeChecks(req.Node)
		return result{cs, index}
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.NodeChecksResponse{Checks: v.([]*registryv1.Check), Meta: meta}, nil
}

// ServiceChecks lists the checks of a service's instances.
func (s *Server) ServiceChecks(ctx context.Context, req *registryv1.ServiceChecksRequest) (*registryv1.ServiceChecksResponse, error) {
	if req.Service == "" {
		return nil, invalid("Missing service name")
	}
	v, meta, err := s.query(ctx, req.Options, store.TopicService(req.Service), func(st *store.Store) result {
		cs, index := st.ServiceChecks(req.Service, req.NodeMeta)
		return result{cs, index}
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.ServiceChecksResponse{Checks: v.([]*registryv1.Check), Meta: meta}, nil
}

var validStates = []string{"any", store.StatusPassing, store.StatusWarning, store.StatusCritical}

// ChecksInState lists the checks in a state.
func (s *Server) ChecksInState(ctx context.Context, req *registryv1.ChecksInStateRequest) (*registryv1.ChecksInStateResponse, error) {
	if !slices.Contains(validStates, req.State) {
		return nil, invalid("Invalid check state %q: use any, passing, warning or critical", req.State)
	}
	v, meta, err := s.query(ctx, req.Options, metaTopic(store.TopicChecks, req.NodeMeta), func(st *store.Store) result {
		cs, index := st.ChecksInState(req.State, req.NodeMeta)
		return result{cs, index}
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.ChecksInStateResponse{Checks: v.([]*registryv1.Check), Meta: meta}, nil
}

// ServiceHealth lists a service's instances with their checks.
func (s *Server) ServiceHealth(ctx context.Context, req *registryv1.ServiceHealthRequest) (*registryv1.ServiceHealthResponse, error) {
	if req.Service == "" {
		return nil, invalid("Missing service name")
	}
	v, meta, err := s.query(ctx, req.Options, store.TopicService(req.Service), func(st *store.Store) result {
		es, index := st.ServiceHealth(req.Service, req.Tags, req.NodeMeta, req.PassingOnly)
		return result{es, index}
	})
	if err != nil {
		return nil, err
	}
	es := v.([]store.HealthEntry)
	out := &registryv1.ServiceHealthResponse{Meta: meta, Entries: make([]*registryv1.ServiceHealthEntry, len(es))}
	for i, e := range es {
		out.Entries[i] = &registryv1.ServiceHealthEntry{Node: e.Node, Service: e.Service, Checks: e.Checks}
	}
	return out, nil
}

type sinceResult struct {
	events []store.Event
	ok     bool
	index  uint64
}

// Watch streams catalog changes: with start_index 0 the whole catalog
// first, then each change as it commits.
func (s *Server) Watch(req *registryv1.WatchRequest, stream registryv1.RegistryService_WatchServer) error {
	ctx := stream.Context()
	from := req.StartIndex
	if from == 0 {
		v, err := s.raft.Read(ctx, fsm.Query(func(st *store.Store) any {
			resp := &registryv1.WatchResponse{Index: st.Applied()}
			put := func(node string, rec any) {
				ev := &registryv1.CatalogEvent{Type: registryv1.CatalogEvent_TYPE_PUT, NodeName: node}
				switch r := rec.(type) {
				case *registryv1.Node:
					ev.Record, ev.Index = &registryv1.CatalogEvent_Node{Node: r}, r.ModifyIndex
				case *registryv1.Service:
					ev.Record, ev.Index = &registryv1.CatalogEvent_Service{Service: r}, r.ModifyIndex
				case *registryv1.Check:
					ev.Record, ev.Index = &registryv1.CatalogEvent_Check{Check: r}, r.ModifyIndex
				}
				resp.Events = append(resp.Events, ev)
			}
			st.All(func(n *registryv1.Node) { put(n.Node, n) },
				func(node string, v *registryv1.Service) { put(node, v) },
				func(c *registryv1.Check) { put(c.Node, c) })
			return resp
		}))
		if err != nil {
			return replica.Status(err)
		}
		resp := v.(*registryv1.WatchResponse)
		resp.Index = max(resp.Index, 1)
		if err := stream.Send(resp); err != nil {
			return err
		}
		from = resp.Index
	}
	for {
		changed := s.hub.Watch("")
		after := from
		v, err := s.raft.StaleRead(fsm.EventsQuery(func(l *fsm.EventLog) any {
			evs, ok := l.Since(after)
			return sinceResult{events: evs, ok: ok}
		}))
		if err != nil {
			return replica.Status(err)
		}
		res := v.(sinceResult)
		if !res.ok {
			return status.Errorf(codes.OutOfRange, "changes after index %d are no longer kept; watch again from 0", after)
		}
		if n := len(res.events); n > 0 {
			from = res.events[n-1].Index
			events := make([]*registryv1.CatalogEvent, n)
			for i := range res.events {
				events[i] = res.events[i].Proto()
			}
			if err := stream.Send(&registryv1.WatchResponse{Events: events, Index: from}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}
