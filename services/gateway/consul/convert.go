package consul

import (
	"maps"
	"slices"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// The conversions write what Consul's HTTP handlers write: lists that are
// empty as [] ("Use empty list instead of nil" in Consul's catalog and
// health endpoints), string maps as {} so that clients can range over and
// index them whatever registered the record, tagged service addresses
// omitted when there are none (omitempty in Consul), weights {1, 1} when a
// service was registered without any, and an empty service address kept
// empty: clients fall back to the node's address themselves.

// stringList returns a copy of s, or an empty list for none.
func stringList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// stringMap returns a copy of m, or an empty map for none.
func stringMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// NodeFromProto returns n in Consul's shape; nil for nil.
func NodeFromProto(n *registryv1.Node) *Node {
	if n == nil {
		return nil
	}
	return &Node{
		ID:              n.GetId(),
		Node:            n.GetNode(),
		Address:         n.GetAddress(),
		Datacenter:      n.GetDatacenter(),
		TaggedAddresses: stringMap(n.GetTaggedAddresses()),
		Meta:            stringMap(n.GetMeta()),
		CreateIndex:     n.GetCreateIndex(),
		ModifyIndex:     n.GetModifyIndex(),
	}
}

// NodesFromProto returns ns in Consul's shape, [] for none.
func NodesFromProto(ns []*registryv1.Node) []*Node {
	out := make([]*Node, 0, len(ns))
	for _, n := range ns {
		if n != nil {
			out = append(out, NodeFromProto(n))
		}
	}
	return out
}

func serviceAddresses(m map[string]*registryv1.ServiceAddress) map[string]ServiceAddress {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]ServiceAddress, len(m))
	for k, a := range m {
		out[k] = ServiceAddress{Address: a.GetAddress(), Port: int(a.GetPort())}
	}
	return out
}

func weights(w *registryv1.Weights) Weights {
	if w == nil {
		return DefaultWeights
	}
	return Weights{Passing: int(w.GetPassing()), Warning: int(w.GetWarning())}
}

// ServiceFromProto returns s in Consul's shape; nil for nil.
func ServiceFromProto(s *registryv1.Service) *AgentService {
	if s == nil {
		return nil
	}
	return &AgentService{
		Kind:              s.GetKind(),
		ID:                s.GetId(),
		Service:           s.GetService(),
		Tags:              stringList(s.GetTags()),
		Meta:              stringMap(s.GetMeta()),
		Port:              int(s.GetPort()),
		Address:           s.GetAddress(),
		TaggedAddresses:   serviceAddresses(s.GetTaggedAddresses()),
		Weights:           weights(s.GetWeights()),
		EnableTagOverride: s.GetEnableTagOverride(),
		CreateIndex:       s.GetCreateIndex(),
		ModifyIndex:       s.GetModifyIndex(),
	}
}

// CatalogServiceFromProto flattens an instance with its node into one
// /v1/catalog/service element.
func CatalogServiceFromProto(i *registryv1.ServiceInstance) *CatalogService {
	n, s := i.GetNode(), i.GetService()
	return &CatalogService{
		ID:                       n.GetId(),
		Node:                     n.GetNode(),
		Address:                  n.GetAddress(),
		Datacenter:               n.GetDatacenter(),
		TaggedAddresses:          stringMap(n.GetTaggedAddresses()),
		NodeMeta:                 stringMap(n.GetMeta()),
		ServiceKind:              s.GetKind(),
		ServiceID:                s.GetId(),
		ServiceName:              s.GetService(),
		ServiceTags:              stringList(s.GetTags()),
		ServiceAddress:           s.GetAddress(),
		ServiceTaggedAddresses:   serviceAddresses(s.GetTaggedAddresses()),
		ServiceWeights:           weights(s.GetWeights()),
		ServiceMeta:              stringMap(s.GetMeta()),
		ServicePort:              int(s.GetPort()),
		ServiceEnableTagOverride: s.GetEnableTagOverride(),
		CreateIndex:              s.GetCreateIndex(),
		ModifyIndex:              s.GetModifyIndex(),
	}
}

// CatalogServicesFromProto returns the /v1/catalog/service body, [] for
// no instances.
func CatalogServicesFromProto(is []*registryv1.ServiceInstance) []*CatalogService {
	out := make([]*CatalogService, 0, len(is))
	for _, i := range is {
		if i != nil {
			out = append(out, CatalogServiceFromProto(i))
		}
	}
	return out
}

func definition(d *registryv1.CheckDefinition) HealthCheckDefinition {
	var header map[string][]string
	if len(d.GetHeader()) > 0 {
		header = make(map[string][]string, len(d.GetHeader()))
		for k, v := range d.GetHeader() {
			header[k] = stringList(v.GetValues())
		}
	}
	return HealthCheckDefinition{
		HTTP:                           d.GetHttp(),
		Header:                         header,
		Method:                         d.GetMethod(),
		Body:                           d.GetBody(),
		TLSSkipVerify:                  d.GetTlsSkipVerify(),
		TCP:                            d.GetTcp(),
		GRPC:                           d.GetGrpc(),
		GRPCUseTLS:                     d.GetGrpcUseTls(),
		Interval:                       d.GetInterval(),
		Timeout:                        d.GetTimeout(),
		TTL:                            d.GetTtl(),
		DeregisterCriticalServiceAfter: d.GetDeregisterCriticalServiceAfter(),
	}
}

// CheckFromProto returns c in Consul's shape; nil for nil.
func CheckFromProto(c *registryv1.Check) *HealthCheck {
	if c == nil {
		return nil
	}
	return &HealthCheck{
		Node:        c.GetNode(),
		CheckID:     c.GetCheckId(),
		Name:        c.GetName(),
		Status:      c.GetStatus(),
		Notes:       c.GetNotes(),
		Output:      c.GetOutput(),
		ServiceID:   c.GetServiceId(),
		ServiceName: c.GetServiceName(),
		ServiceTags: stringList(c.GetServiceTags()),
		Type:        c.GetType(),
		Definition:  definition(c.GetDefinition()),
		CreateIndex: c.GetCreateIndex(),
		ModifyIndex: c.GetModifyIndex(),
	}
}

// ChecksFromProto returns cs in Consul's shape, [] for none.
func ChecksFromProto(cs []*registryv1.Check) []*HealthCheck {
	out := make([]*HealthCheck, 0, len(cs))
	for _, c := range cs {
		if c != nil {
			out = append(out, CheckFromProto(c))
		}
	}
	return out
}

// ServiceEntryFromProto returns one /v1/health/service element.
func ServiceEntryFromProto(e *registryv1.ServiceHealthEntry) *ServiceEntry {
	return &ServiceEntry{
		Node:    NodeFromProto(e.GetNode()),
		Service: ServiceFromProto(e.GetService()),
		Checks:  ChecksFromProto(e.GetChecks()),
	}
}

// ServiceEntriesFromProto returns the /v1/health/service body, [] for none.
func ServiceEntriesFromProto(es []*registryv1.ServiceHealthEntry) []*ServiceEntry {
	out := make([]*ServiceEntry, 0, len(es))
	for _, e := range es {
		if e != nil {
			out = append(out, ServiceEntryFromProto(e))
		}
	}
	return out
}

// CatalogNodeFromProto returns the /v1/catalog/node body: nil (written as
// null) when the node is not in the catalog, as Consul answers.
func CatalogNodeFromProto(r *registryv1.NodeServicesResponse) *CatalogNode {
	if r.GetNode() == nil {
		return nil
	}
	out := &CatalogNode{
		Node:     NodeFromProto(r.GetNode()),
		Services: make(map[string]*AgentService, len(r.GetServices())),
	}
	for _, s := range r.GetServices() {
		if s != nil {
			out.Services[s.GetId()] = ServiceFromProto(s)
		}
	}
	return out
}

// ServicesFromProto returns the /v1/catalog/services body: service name to
// its tags, [] for a service without tags, {} for no services.
func ServicesFromProto(m map[string]*registryv1.ServiceTags) map[string][]string {
	out := make(map[string][]string, len(m))
	for name, tags := range m {
		out[name] = stringList(tags.GetTags())
	}
	return out
}
