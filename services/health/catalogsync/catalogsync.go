// Package catalogsync keeps the catalog's record of this agent's node equal
// to the agent's local state: after every local change at once, and in a
// periodic anti-entropy pass that also repairs drift made by others (a
// service deregistered through the catalog API comes back; one registered
// there for this node but unknown to the agent goes).
package catalogsync

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/health/local"
)

// Config is the syncer's configuration.
type Config struct {
	// Node is this agent's node as the catalog should hold it.
	Node *registryv1.Node
	// Interval is the anti-entropy period for clusters up to 128 nodes;
	// larger clusters scale it as Consul does (log2 of the node count).
	Interval time.Duration
	// ServerManaged are the check and service IDs the servers own on this
	// node (serfHealth, the servers' own service): never removed here.
	ServerManaged []string
	// RetryMin and RetryMax bound the wait after a failed sync.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
}

// DefaultConfig returns Consul's timings; Node must still be set.
func DefaultConfig() Config {
	return Config{
		Interval:      time.Minute,
		ServerManaged: []string{"serfHealth", "tribune"},
		RetryMin:      100 * time.Millisecond,
		RetryMax:      10 * time.Second,
		Logger:        slog.Default(),
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Node == nil || c.Node.Node == "" || c.Node.Address == "":
		return errors.New("catalogsync: Node needs a name and an address")
	case c.Interval <= 0:
		return errors.New("catalogsync: Interval must be positive")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("catalogsync: need 0 < RetryMin <= RetryMax")
	}
	return nil
}

// Catalog is what the syncer needs of the registry; a
// registryv1.RegistryServiceClient is one.
type Catalog interface {
	Register(ctx context.Context, in *registryv1.RegisterRequest, opts ...grpc.CallOption) (*registryv1.RegisterResponse, error)
	Deregister(ctx context.Context, in *registryv1.DeregisterRequest, opts ...grpc.CallOption) (*registryv1.DeregisterResponse, error)
	NodeServices(ctx context.Context, in *registryv1.NodeServicesRequest, opts ...grpc.CallOption) (*registryv1.NodeServicesResponse, error)
	NodeChecks(ctx context.Context, in *registryv1.NodeChecksRequest, opts ...grpc.CallOption) (*registryv1.NodeChecksResponse, error)
	ListNodes(ctx context.Context, in *registryv1.ListNodesRequest, opts ...grpc.CallOption) (*registryv1.ListNodesResponse, error)
}

// Syncer pushes the local state to the catalog.
type Syncer struct {
	cfg     Config
	state   *local.State
	catalog Catalog
	trigger chan struct{}
}

// New returns a Syncer of state to catalog.
func New(cfg Config, state *local.State, catalog Catalog) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Syncer{cfg: cfg, state: state, catalog: catalog, trigger: make(chan struct{}, 1)}, nil
}

// Trigger asks for a full pass soon (as after a reload).
func (s *Syncer) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// scaleFactor is Consul's anti-entropy scale: 1 up to 128 nodes, then one
// more per doubling.
func scaleFactor(nodes int) float64 {
	const threshold = 128
	if nodes <= threshold {
		return 1
	}
	return math.Ceil(math.Log2(float64(nodes))-math.Log2(threshold)) + 1
}

// Run syncs after each local change and on the anti-entropy period until
// ctx ends. A failed sync is retried with backoff.
func (s *Syncer) Run(ctx context.Context) {
	nodes := 1
	next := func() time.Duration {
		d := time.Duration(float64(s.cfg.Interval) * scaleFactor(nodes))
		return d + time.Duration(rand.Int64N(int64(d)/4+1)) // spread agents out
	}
	period := time.NewTimer(0) // a first full pass at start
	defer period.Stop()
	retry := s.cfg.RetryMin
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.state.Changed():
		case <-s.trigger:
		case <-period.C:
			if n, err := s.nodeCount(ctx); err == nil {
				nodes = n
			}
			period.Reset(next())
		}
		for {
			err := s.SyncOnce(ctx)
			if err == nil || ctx.Err() != nil {
				retry = s.cfg.RetryMin
				break
			}
			s.cfg.Logger.Warn("catalog sync failed; retrying", "err", err, "in", retry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, s.cfg.RetryMax)
		}
	}
}

func (s *Syncer) nodeCount(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := s.catalog.ListNodes(ctx, &registryv1.ListNodesRequest{})
	if err != nil {
		return 0, err
	}
	return len(resp.Nodes), nil
}

func sameNode(a, b *registryv1.Node) bool {
	return a != nil && b != nil && a.Id == b.Id && a.Address == b.Address && a.Datacenter == b.Datacenter &&
		maps.Equal(a.Meta, b.Meta) && maps.Equal(a.TaggedAddresses, b.TaggedAddresses)
}

func sameService(a, b *registryv1.Service) bool {
	a, b = proto.Clone(a).(*registryv1.Service), proto.Clone(b).(*registryv1.Service)
	a.CreateIndex, a.ModifyIndex, b.CreateIndex, b.ModifyIndex = 0, 0, 0, 0
	return proto.Equal(a, b)
}

func sameCheck(local, cat *registryv1.Check) bool {
	c := proto.Clone(cat).(*registryv1.Check)
	// The catalog fills these in itself.
	c.CreateIndex, c.ModifyIndex, c.ServiceName, c.ServiceTags = 0, 0, "", nil
	return proto.Equal(local, c)
}

// SyncOnce makes the catalog's record of the node equal to the local
// state, in as few writes as it can: the node if it differs, each service
// that differs, one registration carrying every check that differs, and a
// deregistration of each record the agent does not know.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node := s.cfg.Node
	ns, err := s.catalog.NodeServices(ctx, &registryv1.NodeServicesRequest{Node: node.Node})
	if err != nil {
		return err
	}
	nc, err := s.catalog.NodeChecks(ctx, &registryv1.NodeChecksRequest{Node: node.Node})
	if err != nil {
		return err
	}
	managed := func(id string) bool { return slices.Contains(s.cfg.ServerManaged, id) }

	if !sameNode(ns.Node, node) {
		if _, err := s.catalog.Register(ctx, &registryv1.RegisterRequest{Node: node}); err != nil {
			return err
		}
	}
	inCatalog := map[string]*registryv1.Service{}
	for _, v := range ns.Services {
		inCatalog[v.Id] = v
	}
	catalogChecks := map[string]*registryv1.Check{}
	for _, c := range nc.Checks {
		catalogChecks[c.CheckId] = c
	}
	// The checks that differ, by service ID ("" for node-level ones).
	changed := map[string][]*registryv1.Check{}
	localChecks := map[string]bool{}
	for _, c := range s.state.Checks() {
		want := c.CatalogCheck(node.Node)
		localChecks[want.CheckId] = true
		if have, ok := catalogChecks[want.CheckId]; ok && sameCheck(want, have) {
			continue
		}
		changed[want.ServiceId] = append(changed[want.ServiceId], want)
	}
	// A service that differs goes with its changed checks in one write, so
	// that it never shows in the catalog without them.
	localServices := map[string]bool{}
	for _, v := range s.state.Services() {
		want := local.CatalogService(v.Def)
		localServices[want.Id] = true
		if have, ok := inCatalog[want.Id]; ok && sameService(want, have) {
			continue
		}
		req := &registryv1.RegisterRequest{Node: node, Service: want, Checks: changed[want.Id], SkipNodeUpdate: true}
		if _, err := s.catalog.Register(ctx, req); err != nil {
			return err
		}
		delete(changed, want.Id)
	}
	var rest []*registryv1.Check
	for _, id := range slices.Sorted(maps.Keys(changed)) {
		rest = append(rest, changed[id]...)
	}
	if len(rest) > 0 {
		if _, err := s.catalog.Register(ctx, &registryv1.RegisterRequest{Node: node, Checks: rest, SkipNodeUpdate: true}); err != nil {
			return err
		}
	}
	for id := range inCatalog {
		if !localServices[id] && !managed(id) {
			if _, err := s.catalog.Deregister(ctx, &registryv1.DeregisterRequest{Node: node.Node, ServiceId: id}); err != nil {
				return err
			}
		}
	}
	for id, c := range catalogChecks {
		// A service's checks went with it above.
		if !localChecks[id] && !managed(id) && (c.ServiceId == "" || localServices[c.ServiceId]) {
			if _, err := s.catalog.Deregister(ctx, &registryv1.DeregisterRequest{Node: node.Node, CheckId: id}); err != nil {
				return err
			}
		}
	}
	return nil
}
