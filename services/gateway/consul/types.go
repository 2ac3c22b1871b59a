// Package consul holds Consul's catalog, health and agent API shapes: the
// JSON that github.com/hashicorp/consul/api decodes, the conversions from
// Tribune's registry and agent messages to those shapes, the decoding of
// Consul's catalog registration bodies into registry requests, and
// ?filter (go-bexpr) evaluated on the shapes, so that Consul's selectors
// (Service.Tags, Node.Meta.env, Checks.Status, ...) work as they do in
// Consul.
//
// The field names are Consul's: they are both the JSON names and the
// filter selectors, so the structs carry no json renames. Empty lists are
// written as [] and string maps as {} (see the conversions); fields that
// Consul omits when empty carry omitempty. Index fields and check
// definitions are not selectable by filters, as in Consul (bexpr:"-").
package consul

// Node is a catalog node (api.Node).
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64 `bexpr:"-"`
	ModifyIndex     uint64 `bexpr:"-"`
}

// ServiceAddress is one of a service's tagged addresses (api.ServiceAddress).
type ServiceAddress struct {
	Address string
	Port    int
}

// Weights are a service's DNS SRV weights (api.AgentWeights).
type Weights struct {
	Passing int
	Warning int
}

// DefaultWeights are the weights of a service registered without any.
var DefaultWeights = Weights{Passing: 1, Warning: 1}

// AgentService is a service instance as the health and catalog node
// endpoints write it (api.AgentService). The name is Service, not Name.
type AgentService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Weights           Weights
	EnableTagOverride bool
	CreateIndex       uint64 `bexpr:"-"`
	ModifyIndex       uint64 `bexpr:"-"`
	// Datacenter is only written where Consul writes it (agent endpoints).
	Datacenter string `json:",omitempty" bexpr:"-"`
}

// CatalogService is one element of /v1/catalog/service/:service: an
// instance flattened with its node (api.CatalogService). The index fields
// are the instance's.
type CatalogService struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	ServiceWeights           Weights
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceEnableTagOverride bool
	CreateIndex              uint64 `bexpr:"-"`
	ModifyIndex              uint64 `bexpr:"-"`
}

// HealthCheckDefinition is how a check is probed (api.HealthCheckDefinition
// as the server writes it: empty fields omitted, durations as Go duration
// strings).
type HealthCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	GRPCUseTLS                     bool                `json:",omitempty"`
	Interval                       string              `json:",omitempty"`
	Timeout                        string              `json:",omitempty"`
	TTL                            string              `json:",omitempty"`
	DeregisterCriticalServiceAfter string              `json:",omitempty"`
}

// HealthCheck is a node's or an instance's check (api.HealthCheck).
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	ExposedPort int
	Definition  HealthCheckDefinition `bexpr:"-"`
	CreateIndex uint64                `bexpr:"-"`
	ModifyIndex uint64                `bexpr:"-"`
}

// ServiceEntry is one element of /v1/health/service/:service
// (api.ServiceEntry).
type ServiceEntry struct {
	Node    *Node
	Service *AgentService
	Checks  []*HealthCheck
}

// CatalogNode is /v1/catalog/node/:node (api.CatalogNode): the node and its
// services by ID.
type CatalogNode struct {
	Node     *Node
	Services map[string]*AgentService
}
