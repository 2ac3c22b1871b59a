// Package store holds the catalog in memory: nodes, their service
// instances and health checks, and the Raft indexes that blocking queries
// wait on. It knows nothing of Raft or locking; package fsm applies the
// replicated log to it under a lock.
//
// Records are immutable once stored: a change stores a new message, so a
// reader may keep what it read after the store's lock is released.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// Check states.
const (
	StatusPassing     = "passing"
	StatusWarning     = "warning"
	StatusCritical    = "critical"
	StatusMaintenance = "maintenance"
)

// ErrRejected wraps the reasons a registration is refused as a whole.
var ErrRejected = errors.New("registration rejected")

// Topics are the names blocking queries watch (blocking.Hub keys). Each
// ends in NUL so that no topic is a prefix of another.
func topic(kind, name string) string { return kind + "\x00" + name + "\x00" }

// Topic names for whole tables and for one node or service.
var (
	TopicNodes    = topic("nodes", "")
	TopicServices = topic("services", "")
	TopicChecks   = topic("checks", "")
)

// TopicNode is the topic of one node: its record, services and checks.
func TopicNode(name string) string { return topic("node", name) }

// TopicService is the topic of one service name: its instances, their
// checks and the nodes they run on.
func TopicService(name string) string { return topic("service", name) }

// Store is the catalog. Its methods are not safe for concurrent use with
// writes.
type Store struct {
	nodes    map[string]*registryv1.Node
	services map[string]map[string]*registryv1.Service // node → service ID
	checks   map[string]map[string]*registryv1.Check   // node → check ID
	// indexes maps a topic to the Raft index of its last change. Entries
	// are never removed, so the index of a query never goes backwards,
	// even after the last instance of a service is gone.
	indexes map[string]uint64
	applied uint64
	// byName indexes the instances of each service name (derived from
	// services, not in snapshots), so that reading one service does not
	// scan the catalog.
	byName map[string]map[instanceRef]struct{}

	touched []string // topics changed by the current write
	events  []Event  // records changed by the current write
}

// recordKind is what an Event is about.
type recordKind uint8

const (
	kindNode recordKind = iota + 1
	kindService
	kindCheck
)

// Event is a change to one record. It is kept as it is, not as the
// CatalogEvent message watchers receive: every write makes a few events,
// and only the few of them that a watcher reads are turned into messages.
type Event struct {
	// Index is the Raft index of the change.
	Index uint64
	// Delete tells a removal from a put.
	Delete bool
	// Node is the node of the record.
	Node string
	kind recordKind
	// rec is the stored record of a put: a *Node, *Service or *Check.
	rec any
	// id and name are, for a removal, the service's ID and name, or the
	// check's ID.
	id, name string
}

// Proto returns the change as a CatalogEvent. For a removal, the record
// holds only what names it.
func (e *Event) Proto() *registryv1.CatalogEvent {
	ev := &registryv1.CatalogEvent{Type: registryv1.CatalogEvent_TYPE_PUT, NodeName: e.Node, Index: e.Index}
	if e.Delete {
		ev.Type = registryv1.CatalogEvent_TYPE_DELETE
		switch e.kind {
		case kindNode:
			ev.Record = &registryv1.CatalogEvent_Node{Node: &registryv1.Node{Node: e.Node}}
		case kindService:
			ev.Record = &registryv1.CatalogEvent_Service{Service: &registryv1.Service{Id: e.id, Service: e.name}}
		case kindCheck:
			ev.Record = &registryv1.CatalogEvent_Check{Check: &registryv1.Check{Node: e.Node, CheckId: e.id}}
		}
		return ev
	}
	switch r := e.rec.(type) {
	case *registryv1.Node:
		ev.Record = &registryv1.CatalogEvent_Node{Node: r}
	case *registryv1.Service:
		ev.Record = &registryv1.CatalogEvent_Service{Service: r}
	case *registryv1.Check:
		ev.Record = &registryv1.CatalogEvent_Check{Check: r}
	}
	return ev
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		nodes:    map[string]*registryv1.Node{},
		services: map[string]map[string]*registryv1.Service{},
		checks:   map[string]map[string]*registryv1.Check{},
		indexes:  map[string]uint64{},
		byName:   map[string]map[instanceRef]struct{}{},
	}
}

// instanceRef names a service instance: its node and ID.
type instanceRef struct{ node, id string }

func (s *Store) indexInstance(name string, ref instanceRef) {
	if s.byName[name] == nil {
		s.byName[name] = map[instanceRef]struct{}{}
	}
	s.byName[name][ref] = struct{}{}
}

func (s *Store) unindexInstance(name string, ref instanceRef) {
	delete(s.byName[name], ref)
	if len(s.byName[name]) == 0 {
		delete(s.byName, name)
	}
}

// Clone returns an independent copy (records are shared: they are
// immutable).
func (s *Store) Clone() *Store {
	c := &Store{
		nodes:    maps.Clone(s.nodes),
		services: make(map[string]map[string]*registryv1.Service, len(s.services)),
		checks:   make(map[string]map[string]*registryv1.Check, len(s.checks)),
		indexes:  maps.Clone(s.indexes),
		applied:  s.applied,
		byName:   make(map[string]map[instanceRef]struct{}, len(s.byName)),
	}
	for n, m := range s.services {
		c.services[n] = maps.Clone(m)
	}
	for n, m := range s.byName {
		c.byName[n] = maps.Clone(m)
	}
	for n, m := range s.checks {
		c.checks[n] = maps.Clone(m)
	}
	return c
}

// Applied returns the last Raft index applied.
func (s *Store) Applied() uint64 { return s.applied }

// SetApplied records that the log has been applied up to index.
func (s *Store) SetApplied(index uint64) { s.applied = max(s.applied, index) }

// Index returns the index of a topic.
func (s *Store) Index(topic string) uint64 { return s.indexes[topic] }

// TakeTouched returns the topics changed since the last call.
func (s *Store) TakeTouched() []string {
	t := s.touched
	s.touched = nil
	return t
}

// TakeEvents returns the changes made since the last call, in order. The
// slice is valid until the next write, which reuses it.
func (s *Store) TakeEvents() []Event {
	e := s.events
	s.events = s.events[:0]
	if len(e) == 0 {
		return nil
	}
	return e
}

// emitPut records that rec, a stored *Node, *Service or *Check of node,
// was put at index.
func (s *Store) emitPut(index uint64, node string, rec any) {
	s.events = append(s.events, Event{Index: index, Node: node, rec: rec})
}

// emitDelete records a removal at index: of the node itself (kindNode), of
// a service instance (its ID and name) or of a check (its ID).
func (s *Store) emitDelete(index uint64, node string, kind recordKind, id, name string) {
	s.events = append(s.events, Event{Index: index, Delete: true, Node: node, kind: kind, id: id, name: name})
}

func (s *Store) bump(index uint64, topics ...string) {
	for _, t := range topics {
		if s.indexes[t] < index {
			s.indexes[t] = index
			s.touched = append(s.touched, t)
		}
	}
}

// bumpNode bumps the topic of one node, TopicNode(name).
func (s *Store) bumpNode(index uint64, name string) { s.bumpNamed(index, "node", name) }

// bumpService bumps the topic of one service name, TopicService(name).
func (s *Store) bumpService(index uint64, name string) { s.bumpNamed(index, "service", name) }

// bumpNamed bumps topic(kind, name). A write touches a few such topics per
// record, and one entry's writes share its index, so the topic's string is
// built on the stack to look it up and only allocated when it moves.
func (s *Store) bumpNamed(index uint64, kind, name string) {
	var buf [64]byte
	key := append(append(append(append(buf[:0], kind...), 0), name...), 0)
	if s.indexes[string(key)] < index {
		t := string(key)
		s.indexes[t] = index
		s.touched = append(s.touched, t)
	}
}

// bumpNodeServices bumps the topics of every service on node: a change to
// the node or to its node-level checks changes their health.
func (s *Store) bumpNodeServices(index uint64, node string) {
	for _, svc := range s.services[node] {
		s.bumpService(index, svc.Service)
	}
}

// indexed is a catalog record: it has a CreateIndex and a ModifyIndex.
type indexed interface {
	proto.Message
	GetCreateIndex() uint64
	GetModifyIndex() uint64
}

// stamp gives rec, the record about to be stored, its indexes for a
// write at index, old being the record it replaces (ok false: none). It
// reports false, leaving the indexes as old's, when rec differs from old
// in nothing but them (equal says): the write changes nothing.
func stamp[T indexed](index uint64, rec, old T, ok bool, set func(T, uint64, uint64), equal func(T, T) bool) bool {
	if !ok {
		set(rec, index, index)
		return true
	}
	set(rec, old.GetCreateIndex(), old.GetModifyIndex())
	if equal(old, rec) {
		return false
	}
	set(rec, old.GetCreateIndex(), index)
	return true
}

// protoEqual is proto.Equal for one record type.
func protoEqual[T proto.Message](a, b T) bool { return proto.Equal(a, b) }

// sameNode is proto.Equal for nodes, written out: nearly every
// registration carries its node unchanged, and the reflective comparison
// of it was the largest part of applying one. TestSameNode holds it to
// proto.Equal field by field, so a field added to Node must be added here.
func sameNode(a, b *registryv1.Node) bool {
	return a.Id == b.Id && a.Node == b.Node && a.Address == b.Address && a.Datacenter == b.Datacenter &&
		maps.Equal(a.TaggedAddresses, b.TaggedAddresses) && maps.Equal(a.Meta, b.Meta) &&
		a.CreateIndex == b.CreateIndex && a.ModifyIndex == b.ModifyIndex &&
		bytes.Equal(a.ProtoReflect().GetUnknown(), b.ProtoReflect().GetUnknown())
}

func setNode(n *registryv1.Node, c, m uint64)       { n.CreateIndex, n.ModifyIndex = c, m }
func setService(v *registryv1.Service, c, m uint64) { v.CreateIndex, v.ModifyIndex = c, m }
func setCheck(k *registryv1.Check, c, m uint64)     { k.CreateIndex, k.ModifyIndex = c, m }

// Register applies a registration at index: the node (unless skipNode),
// the service instance and the checks. It validates everything against
// the current state first and changes nothing when it returns an error.
// Records equal to the stored ones leave their indexes alone.
//
// Register takes node, svc and checks over: it may store and change them,
// and the caller must neither use nor change them afterwards (the state
// machine passes the records of the entry's command, decoded or handed
// over by the server that proposed it).
func (s *Store) Register(index uint64, node *registryv1.Node, svc *registryv1.Service, checks []*registryv1.Check, skipNode bool) error {
	if node == nil || node.Node == "" {
		return fmt.Errorf("%w: Must provide node", ErrRejected)
	}
	name := node.Node
	_, nodeExists := s.nodes[name]
	if skipNode && !nodeExists {
		return fmt.Errorf("%w: node %q is not registered (SkipNodeUpdate)", ErrRejected, name)
	}
	for _, c := range checks {
		if c.ServiceId == "" {
			continue
		}
		if svc != nil && c.ServiceId == svc.Id {
			continue
		}
		if _, ok := s.services[name][c.ServiceId]; !ok {
			return fmt.Errorf("%w: Missing service registration for check %q: service %q on node %q",
				ErrRejected, c.CheckId, c.ServiceId, name)
		}
	}

	if !skipNode {
		s.putNode(index, node)
	}
	if svc != nil {
		s.putService(index, name, svc)
	}
	for _, c := range checks {
		s.putCheck(index, name, c)
	}
	return nil
}

func (s *Store) putNode(index uint64, n *registryv1.Node) {
	old, ok := s.nodes[n.Node]
	if !stamp(index, n, old, ok, setNode, sameNode) {
		return
	}
	s.nodes[n.Node] = n
	s.emitPut(index, n.Node, n)
	s.bump(index, TopicNodes)
	s.bumpNode(index, n.Node)
	s.bumpNodeServices(index, n.Node)
}

func (s *Store) putService(index uint64, node string, v *registryv1.Service) {
	old, ok := s.services[node][v.Id]
	if !stamp(index, v, old, ok, setService, protoEqual) {
		return
	}
	if ok {
		if old.Service != v.Service {
			s.bumpService(index, old.Service)
			s.unindexInstance(old.Service, instanceRef{node, v.Id})
		}
	}
	if s.services[node] == nil {
		s.services[node] = map[string]*registryv1.Service{}
	}
	s.services[node][v.Id] = v
	s.indexInstance(v.Service, instanceRef{node, v.Id})
	s.emitPut(index, node, v)
	s.bump(index, TopicServices)
	s.bumpService(index, v.Service)
	s.bumpNode(index, node)
	// The instance's checks carry its name and tags.
	for id, c := range s.checks[node] {
		if c.ServiceId == v.Id && (c.ServiceName != v.Service || !slices.Equal(c.ServiceTags, v.Tags)) {
			c = proto.Clone(c).(*registryv1.Check)
			c.ServiceName, c.ServiceTags, c.ModifyIndex = v.Service, slices.Clone(v.Tags), index
			s.checks[node][id] = c
			s.emitPut(index, node, c)
			s.bump(index, TopicChecks)
		}
	}
}

func (s *Store) putCheck(index uint64, node string, c *registryv1.Check) {
	c.Node = node
	if c.Status == "" {
		c.Status = StatusCritical
	}
	if c.ServiceId != "" {
		v := s.services[node][c.ServiceId]
		c.ServiceName, c.ServiceTags = v.Service, slices.Clone(v.Tags)
	} else {
		c.ServiceName, c.ServiceTags = "", nil
	}
	old, ok := s.checks[node][c.CheckId]
	if !stamp(index, c, old, ok, setCheck, protoEqual) {
		return
	}
	if ok {
		if old.ServiceId != c.ServiceId {
			s.bumpCheckOwner(index, node, old)
		}
	}
	if s.checks[node] == nil {
		s.checks[node] = map[string]*registryv1.Check{}
	}
	s.checks[node][c.CheckId] = c
	s.emitPut(index, node, c)
	s.bump(index, TopicChecks)
	s.bumpCheckOwner(index, node, c)
}

// bumpCheckOwner bumps the topics a check's change affects: its node, and
// its service or, for a node-level check, every service on the node.
func (s *Store) bumpCheckOwner(index uint64, node string, c *registryv1.Check) {
	s.bumpNode(index, node)
	if c.ServiceId == "" {
		s.bumpNodeServices(index, node)
	} else if c.ServiceName != "" {
		s.bumpService(index, c.ServiceName)
	}
}

// Deregister removes, at index, a check (checkID set), a service instance
// with its checks (serviceID set), or the node with everything on it.
// Removing what is not there is not an error.
func (s *Store) Deregister(index uint64, node, serviceID, checkID string) {
	switch {
	case checkID != "":
		s.deleteCheck(index, node, checkID)
	case serviceID != "":
		s.deleteService(index, node, serviceID)
	default:
		if _, ok := s.nodes[node]; !ok {
			return
		}
		for id := range s.services[node] {
			s.deleteService(index, node, id)
		}
		for id := range s.checks[node] {
			s.deleteCheck(index, node, id)
		}
		s.emitDelete(index, node, kindNode, "", "")
		delete(s.nodes, node)
		delete(s.services, node)
		delete(s.checks, node)
		s.bump(index, TopicNodes)
		s.bumpNode(index, node)
	}
}

func (s *Store) deleteCheck(index uint64, node, id string) {
	c, ok := s.checks[node][id]
	if !ok {
		return
	}
	s.bumpCheckOwner(index, node, c)
	delete(s.checks[node], id)
	s.emitDelete(index, node, kindCheck, id, "")
	s.bump(index, TopicChecks)
}

func (s *Store) deleteService(index uint64, node, id string) {
	v, ok := s.services[node][id]
	if !ok {
		return
	}
	for cid, c := range s.checks[node] {
		if c.ServiceId == id {
			s.deleteCheck(index, node, cid)
		}
	}
	delete(s.services[node], id)
	s.unindexInstance(v.Service, instanceRef{node, id})
	s.emitDelete(index, node, kindService, id, v.Service)
	// The service's topic is bumped even when this was its last instance
	// (Consul's extinction index), so a blocking query on it wakes to [].
	s.bump(index, TopicServices)
	s.bumpService(index, v.Service)
	s.bumpNode(index, node)
}

// NodeMetaFilter keeps nodes that have every key with its value.
type NodeMetaFilter map[string]string

func (f NodeMetaFilter) match(n *registryv1.Node) bool {
	for k, v := range f {
		if got, ok := n.GetMeta()[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Node returns a node, or nil.
func (s *Store) Node(name string) *registryv1.Node { return s.nodes[name] }

// Nodes returns the nodes that match meta, by name, and the index of the
// nodes table.
func (s *Store) Nodes(meta NodeMetaFilter) ([]*registryv1.Node, uint64) {
	out := make([]*registryv1.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		if meta.match(n) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, s.indexes[TopicNodes]
}

// Services returns each service name on the nodes that match meta with
// the sorted union of its instances' tags, and the services table's index.
func (s *Store) Services(meta NodeMetaFilter) (map[string][]string, uint64) {
	tags := map[string]map[string]bool{}
	for node, svcs := range s.services {
		if !meta.match(s.nodes[node]) {
			continue
		}
		for _, v := range svcs {
			if tags[v.Service] == nil {
				tags[v.Service] = map[string]bool{}
			}
			for _, t := range v.Tags {
				tags[v.Service][t] = true
			}
		}
	}
	out := make(map[string][]string, len(tags))
	index := s.indexes[TopicServices]
	if len(meta) > 0 {
		// Which nodes match depends on their meta too.
		index = max(index, s.indexes[TopicNodes])
	}
	for name, set := range tags {
		// A service without tags has [], as in Consul, not nil.
		out[name] = slices.AppendSeq(make([]string, 0, len(set)), maps.Keys(set))
		slices.Sort(out[name])
	}
	return out, index
}

// Instance is a service instance with its node.
type Instance struct {
	Node    *registryv1.Node
	Service *registryv1.Service
}

func hasTags(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return false
		}
	}
	return true
}

// ServiceInstances returns the instances of a service that have all tags,
// on nodes that match meta, ordered by node then ID, and the service's index.
func (s *Store) ServiceInstances(name string, tags []string, meta NodeMetaFilter) ([]Instance, uint64) {
	var out []Instance
	for ref := range s.byName[name] {
		n, v := s.nodes[ref.node], s.services[ref.node][ref.id]
		if meta.match(n) && hasTags(v.Tags, tags) {
			out = append(out, Instance{Node: n, Service: v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node.Node != out[j].Node.Node {
			return out[i].Node.Node < out[j].Node.Node
		}
		return out[i].Service.Id < out[j].Service.Id
	})
	return out, s.indexes[TopicService(name)]
}

// NodeServices returns a node (nil if unknown) with its services by ID, and
// the node's index.
func (s *Store) NodeServices(name string) (*registryv1.Node, []*registryv1.Service, uint64) {
	n := s.nodes[name]
	if n == nil {
		return nil, nil, s.indexes[TopicNode(name)]
	}
	svcs := slices.Collect(maps.Values(s.services[name]))
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Id < svcs[j].Id })
	return n, svcs, s.indexes[TopicNode(name)]
}

func sortChecks(cs []*registryv1.Check) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Node != cs[j].Node {
			return cs[i].Node < cs[j].Node
		}
		return cs[i].CheckId < cs[j].CheckId
	})
}

// NodeChecks returns a node's checks by ID and the node's index.
func (s *Store) NodeChecks(name string) ([]*registryv1.Check, uint64) {
	cs := slices.Collect(maps.Values(s.checks[name]))
	sortChecks(cs)
	return cs, s.indexes[TopicNode(name)]
}

// ServiceChecks returns the checks of every instance of a service on
// nodes that match meta, and the service's index.
func (s *Store) ServiceChecks(name string, meta NodeMetaFilter) ([]*registryv1.Check, uint64) {
	var out []*registryv1.Check
	nodes := map[string]bool{}
	for ref := range s.byName[name] {
		nodes[ref.node] = true
	}
	for node := range nodes {
		if !meta.match(s.nodes[node]) {
			continue
		}
		for _, c := range s.checks[node] {
			if c.ServiceName == name && c.ServiceId != "" {
				out = append(out, c)
			}
		}
	}
	sortChecks(out)
	return out, s.indexes[TopicService(name)]
}

// ChecksInState returns the checks in state ("any" for all) on nodes that
// match meta, and the checks table's index.
func (s *Store) ChecksInState(state string, meta NodeMetaFilter) ([]*registryv1.Check, uint64) {
	var out []*registryv1.Check
	for node, cs := range s.checks {
		if !meta.match(s.nodes[node]) {
			continue
		}
		for _, c := range cs {
			if state == "any" || c.Status == state {
				out = append(out, c)
			}
		}
	}
	sortChecks(out)
	if len(meta) > 0 {
		return out, max(s.indexes[TopicChecks], s.indexes[TopicNodes])
	}
	return out, s.indexes[TopicChecks]
}

// HealthEntry is an instance with its node and the checks that apply to
// it: the node's own checks and the instance's.
type HealthEntry struct {
	Instance
	Checks []*registryv1.Check
}

// ServiceHealth returns the instances of a service with their checks, as
// ServiceInstances; with passingOnly, only those whose every check passes.
func (s *Store) ServiceHealth(name string, tags []string, meta NodeMetaFilter, passingOnly bool) ([]HealthEntry, uint64) {
	insts, index := s.ServiceInstances(name, tags, meta)
	out := make([]HealthEntry, 0, len(insts))
	for _, in := range insts {
		var cs []*registryv1.Check
		for _, c := range s.checks[in.Node.Node] {
			if c.ServiceId == "" || c.ServiceId == in.Service.Id {
				cs = append(cs, c)
			}
		}
		sortChecks(cs)
		if passingOnly && slices.ContainsFunc(cs, func(c *registryv1.Check) bool { return c.Status != StatusPassing }) {
			continue
		}
		out = append(out, HealthEntry{Instance: in, Checks: cs})
	}
	return out, index
}

// All calls the functions with every record, nodes first.
func (s *Store) All(node func(*registryv1.Node), svc func(string, *registryv1.Service), check func(*registryv1.Check)) {
	for _, n := range s.nodes {
		node(n)
	}
	for name, m := range s.services {
		for _, v := range m {
			svc(name, v)
		}
	}
	for _, m := range s.checks {
		for _, c := range m {
			check(c)
		}
	}
}
