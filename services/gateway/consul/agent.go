package consul

import (
	"net"
	"strconv"
	"strings"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"

	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
)

// The agent endpoints' shapes (/v1/agent/...). The agent's services and
// checks are written as AgentService and HealthCheck, like the catalog's,
// with the agent's datacenter in AgentService.Datacenter as Consul's
// agent endpoints write it.

// Check statuses, and Consul's IDs of the maintenance checks.
const (
	HealthPassing      = "passing"
	HealthWarning      = "warning"
	HealthCritical     = "critical"
	HealthMaint        = "maintenance"
	NodeMaint          = "_node_maintenance"
	ServiceMaintPrefix = "_service_maintenance:"
)

// AgentServiceFromProto returns s as /v1/agent/service/:id writes it.
func AgentServiceFromProto(s *registryv1.Service, datacenter string) *AgentService {
	out := ServiceFromProto(s)
	if out != nil {
		out.Datacenter = datacenter
	}
	return out
}

// AgentServicesFromProto returns the /v1/agent/services body: service ID
// to service, {} for none.
func AgentServicesFromProto(m map[string]*registryv1.Service, datacenter string) map[string]*AgentService {
	out := make(map[string]*AgentService, len(m))
	for id, s := range m {
		if s != nil {
			out[id] = AgentServiceFromProto(s, datacenter)
		}
	}
	return out
}

// AgentChecksFromProto returns the /v1/agent/checks body: check ID to
// check, {} for none.
func AgentChecksFromProto(m map[string]*registryv1.Check) map[string]*HealthCheck {
	out := make(map[string]*HealthCheck, len(m))
	for id, c := range m {
		if c != nil {
			out[id] = CheckFromProto(c)
		}
	}
	return out
}

// AgentServiceChecksInfo is one local instance's health
// (api.AgentServiceChecksInfo): the body of
// /v1/agent/health/service/id/:id and an element of .../name/:name.
type AgentServiceChecksInfo struct {
	AggregatedStatus string
	Service          *AgentService
	Checks           []*HealthCheck
}

// AggregatedStatus is the status of a set of checks as Consul's client
// computes it (api.HealthChecks.AggregatedStatus): maintenance if any is
// a maintenance check, else the worst status, passing for none, and ""
// for a status it does not know.
func AggregatedStatus(checks []*registryv1.Check) string {
	var passing, warning, critical, maintenance bool
	for _, c := range checks {
		id := c.GetCheckId()
		if id == NodeMaint || strings.HasPrefix(id, ServiceMaintPrefix) {
			maintenance = true
			continue
		}
		switch c.GetStatus() {
		case HealthPassing:
			passing = true
		case HealthWarning:
			warning = true
		case HealthCritical:
			critical = true
		default:
			return ""
		}
	}
	switch {
	case maintenance:
		return HealthMaint
	case critical:
		return HealthCritical
	case warning:
		return HealthWarning
	case passing:
		return HealthPassing
	}
	return HealthPassing
}

// InstanceHealthFromProto returns one instance's health; its status is the
// health service's, or computed from its checks when the service gives
// none.
func InstanceHealthFromProto(i *agentv1.InstanceHealth, datacenter string) *AgentServiceChecksInfo {
	st := i.GetAggregatedStatus()
	if st == "" {
		st = AggregatedStatus(i.GetChecks())
	}
	return &AgentServiceChecksInfo{
		AggregatedStatus: st,
		Service:          AgentServiceFromProto(i.GetService(), datacenter),
		Checks:           ChecksFromProto(i.GetChecks()),
	}
}

// AgentSelf is /v1/agent/self. Consul's Go client reads it as a map of
// maps (api.AgentSelf); Prometheus requires Config.Datacenter to be a
// string, consul-template reads Config.NodeName, Vault Member.Addr, and
// `consul info` reads Stats as sections of strings.
type AgentSelf struct {
	Config AgentConfig
	// DebugConfig is Consul's whole runtime configuration; Tribune's is
	// not Consul's, so it is empty.
	DebugConfig map[string]any
	// Coord is the agent's network coordinate: null, as Consul writes it
	// with coordinates disabled.
	Coord  *struct{}
	Member AgentMember
	Stats  map[string]map[string]string
	Meta   map[string]string
}

// AgentConfig is AgentSelf.Config.
type AgentConfig struct {
	Datacenter        string
	PrimaryDatacenter string
	NodeName          string
	NodeID            string
	Revision          string
	Server            bool
	Version           string
	BuildDate         string
}

// AgentMember is a gossip member (serf.Member as Consul writes it).
type AgentMember struct {
	Name string
	Addr string
	Port uint16
	// Tags is never null: `consul members` writes into it.
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// MemberAlive is serf's status of a live member.
const MemberAlive = 1

// DefaultLANPort is the gossip port of an agent whose address has none.
const DefaultLANPort = 8301

// BuildInfo is what the agent's binary knows of its build.
type BuildInfo struct {
	Revision  string
	BuildDate string
}

// SelfFromProto returns the /v1/agent/self body. datacenter is used when
// the health service names none; stats are the sections of Stats
// (agent, build, runtime, ...), to which the build section is added.
func SelfFromProto(r *agentv1.SelfResponse, datacenter string, build BuildInfo, stats map[string]map[string]string) *AgentSelf {
	dc := r.GetDatacenter()
	if dc == "" {
		dc = datacenter
	}
	host, port := r.GetAddress(), DefaultLANPort
	if h, p, err := net.SplitHostPort(host); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			host, port = h, int(n)
		}
	}
	role := "node"
	if r.GetServer() {
		role = "consul"
	}
	out := &AgentSelf{
		Config: AgentConfig{
			Datacenter:        dc,
			PrimaryDatacenter: dc,
			NodeName:          r.GetNodeName(),
			NodeID:            r.GetNodeId(),
			Revision:          build.Revision,
			Server:            r.GetServer(),
			Version:           r.GetVersion(),
			BuildDate:         build.BuildDate,
		},
		DebugConfig: map[string]any{},
		Member: AgentMember{
			Name: r.GetNodeName(),
			Addr: host,
			Port: uint16(port),
			Tags: map[string]string{
				"role":    role,
				"dc":      dc,
				"id":      r.GetNodeId(),
				"build":   r.GetVersion() + ":" + build.Revision,
				"vsn":     "2",
				"vsn_min": "2",
				"vsn_max": "3",
			},
			Status: MemberAlive,
			// memberlist's protocol versions, as Consul reports them.
			ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2,
			DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
		},
		Stats: map[string]map[string]string{},
		Meta:  stringMap(r.GetNodeMeta()),
	}
	for k, v := range stats {
		out.Stats[k] = v
	}
	out.Stats["build"] = map[string]string{
		"prerelease":       "",
		"revision":         build.Revision,
		"version":          r.GetVersion(),
		"version_metadata": "",
	}
	return out
}

// MemberFromProto is a gossip member as /v1/agent/members writes it.
func MemberFromProto(m *membershipv1.Member) AgentMember {
	tags := m.GetTags()
	if tags == nil {
		tags = map[string]string{}
	}
	return AgentMember{
		Name: m.GetName(), Addr: m.GetAddr(), Port: uint16(m.GetPort()), Tags: tags,
		Status:      int(m.GetStatus()),
		ProtocolMin: uint8(m.GetProtocolMin()), ProtocolMax: uint8(m.GetProtocolMax()), ProtocolCur: uint8(m.GetProtocolCur()),
		DelegateMin: uint8(m.GetDelegateMin()), DelegateMax: uint8(m.GetDelegateMax()), DelegateCur: uint8(m.GetDelegateCur()),
	}
}
