package consul

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	fastjson "github.com/segmentio/encoding/json"
	"google.golang.org/protobuf/proto"

	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// Duration is a duration in a request body: a Go duration string ("10s",
// as api.HealthCheckDefinition writes it) or a number of nanoseconds, the
// two forms Consul's server takes. An empty string or null is no duration.
type Duration time.Duration

// UnmarshalJSON reads either form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*d = 0
	case string:
		if x == "" {
			*d = 0
			return nil
		}
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %v", x, err)
		}
		*d = Duration(p)
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt64 || x < math.MinInt64 {
			return fmt.Errorf("invalid duration %s: not a whole number of nanoseconds", b)
		}
		*d = Duration(x)
	default:
		return fmt.Errorf("invalid duration %s: want a string such as \"10s\" or nanoseconds", b)
	}
	return nil
}

// String is the duration as the registry stores it: a Go duration string,
// or "" for none.
func (d Duration) String() string {
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}

// CatalogRegistration is the body of PUT /v1/catalog/register
// (api.CatalogRegistration). Fields Tribune does not keep (Connect, Proxy,
// Namespace, Partition, Locality, ...) are accepted and ignored.
type CatalogRegistration struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *ServiceRegistration
	// Check is one check; Checks more. Both may be given.
	Check          *CheckRegistration
	Checks         []*CheckRegistration
	SkipNodeUpdate bool
}

// ServiceRegistration is the Service of a registration (api.AgentService):
// its name is Service.
type ServiceRegistration struct {
	Kind              string
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress
	Weights           *Weights
	EnableTagOverride bool
}

// CheckRegistration is a check of a registration (api.AgentCheck in Check,
// api.HealthCheck in Checks).
type CheckRegistration struct {
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
	Definition  *CheckDefinitionRegistration
}

// CheckDefinitionRegistration is a check's definition in a registration
// (api.HealthCheckDefinition), durations in either form.
type CheckDefinitionRegistration struct {
	HTTP                           string
	Header                         map[string][]string
	Method                         string
	Body                           string
	TLSSkipVerify                  bool
	TCP                            string
	GRPC                           string
	GRPCUseTLS                     bool
	Interval                       Duration
	Timeout                        Duration
	TTL                            Duration
	DeregisterCriticalServiceAfter Duration
}

// CatalogDeregistration is the body of PUT /v1/catalog/deregister
// (api.CatalogDeregistration): no ServiceID and no CheckID removes the
// whole node.
type CatalogDeregistration struct {
	Node       string
	Datacenter string
	ServiceID  string
	CheckID    string
}

// DecodeRegistration reads a /v1/catalog/register body. Unknown fields are
// ignored, as Consul ignores them; field names match case-insensitively,
// as in Consul (encoding/json).
func DecodeRegistration(data []byte) (*registryv1.RegisterRequest, error) {
	req := &registryv1.RegisterRequest{}
	if err := DecodeRegistrationInto(data, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeRegistrationInto is DecodeRegistration into dst, which it resets
// first.
func DecodeRegistrationInto(data []byte, dst *registryv1.RegisterRequest) error {
	r, err := unmarshal[CatalogRegistration](data)
	if err != nil {
		return err
	}
	proto.Reset(dst)
	return r.into(dst)
}

// DecodeDeregistration reads a /v1/catalog/deregister body.
func DecodeDeregistration(data []byte) (*registryv1.DeregisterRequest, error) {
	req := &registryv1.DeregisterRequest{}
	if err := DecodeDeregistrationInto(data, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeDeregistrationInto is DecodeDeregistration into dst, which it
// resets first.
func DecodeDeregistrationInto(data []byte, dst *registryv1.DeregisterRequest) error {
	r, err := unmarshal[CatalogDeregistration](data)
	if err != nil {
		return err
	}
	proto.Reset(dst)
	r.into(dst)
	return nil
}

// unmarshal decodes a catalog write's body as encoding/json does, three
// times faster: with segmentio/encoding's decoder, which follows the same
// rules (case-insensitive names, unknown fields ignored, UnmarshalJSON
// methods). When that decoder refuses the body, encoding/json decodes it
// again into a fresh value, so that the error, or a body only
// encoding/json accepts, is exactly encoding/json's: Consul's 400 texts
// are Go's. FuzzDecodeAgreesWithEncodingJSON holds the two to the same
// results.
func unmarshal[T any](data []byte) (*T, error) {
	var v T
	if err := fastjson.Unmarshal(data, &v); err == nil {
		return &v, nil
	}
	var w T
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// into sets the fields of req, an empty request, to what r asks for.
// Defaults (service ID from its name, check ID from its name, a check's
// node) are the registry's to apply, as Consul applies them on the server.
func (r *CatalogRegistration) into(req *registryv1.RegisterRequest) error {
	req.Node = &registryv1.Node{
		Id:              r.ID,
		Node:            r.Node,
		Address:         r.Address,
		Datacenter:      r.Datacenter,
		TaggedAddresses: r.TaggedAddresses,
		Meta:            r.NodeMeta,
	}
	req.SkipNodeUpdate = r.SkipNodeUpdate
	req.Options = &queryv1.WriteOptions{Datacenter: r.Datacenter}
	if s := r.Service; s != nil {
		svc, err := s.proto()
		if err != nil {
			return err
		}
		req.Service = svc
	}
	// Consul appends Check to Checks.
	checks := r.Checks
	if r.Check != nil {
		checks = append(checks, r.Check)
	}
	for _, c := range checks {
		if c != nil {
			req.Checks = append(req.Checks, c.proto())
		}
	}
	return nil
}

func port(name string, p int) (int32, error) {
	if p < 0 || p > math.MaxUint16 {
		return 0, fmt.Errorf("%s %d out of range 0-65535", name, p)
	}
	return int32(p), nil
}

func (s *ServiceRegistration) proto() (*registryv1.Service, error) {
	p, err := port("Service.Port", s.Port)
	if err != nil {
		return nil, err
	}
	out := &registryv1.Service{
		Id:                s.ID,
		Service:           s.Service,
		Tags:              s.Tags,
		Address:           s.Address,
		Port:              p,
		Meta:              s.Meta,
		EnableTagOverride: s.EnableTagOverride,
		Kind:              s.Kind,
	}
	if len(s.TaggedAddresses) > 0 {
		out.TaggedAddresses = make(map[string]*registryv1.ServiceAddress, len(s.TaggedAddresses))
		for k, a := range s.TaggedAddresses {
			ap, err := port("Service.TaggedAddresses."+k+".Port", a.Port)
			if err != nil {
				return nil, err
			}
			out.TaggedAddresses[k] = &registryv1.ServiceAddress{Address: a.Address, Port: ap}
		}
	}
	// api.AgentService always writes Weights, as zeros when the caller set
	// none: zeros mean "unset" and leave the default {1, 1}.
	if w := s.Weights; w != nil && (w.Passing != 0 || w.Warning != 0) {
		if w.Passing < 0 || w.Warning < 0 || w.Passing > math.MaxInt32 || w.Warning > math.MaxInt32 {
			return nil, fmt.Errorf("Service.Weights out of range: %+v", *w)
		}
		out.Weights = &registryv1.Weights{Passing: int32(w.Passing), Warning: int32(w.Warning)}
	}
	return out, nil
}

func (c *CheckRegistration) proto() *registryv1.Check {
	out := &registryv1.Check{
		Node:        c.Node,
		CheckId:     c.CheckID,
		Name:        c.Name,
		Status:      c.Status,
		Notes:       c.Notes,
		Output:      c.Output,
		ServiceId:   c.ServiceID,
		ServiceName: c.ServiceName,
		ServiceTags: c.ServiceTags,
		Type:        c.Type,
	}
	if d := c.Definition; d != nil {
		def := &registryv1.CheckDefinition{
			Http:                           d.HTTP,
			Tcp:                            d.TCP,
			Grpc:                           d.GRPC,
			Method:                         d.Method,
			Body:                           d.Body,
			TlsSkipVerify:                  d.TLSSkipVerify,
			GrpcUseTls:                     d.GRPCUseTLS,
			Interval:                       d.Interval.String(),
			Timeout:                        d.Timeout.String(),
			Ttl:                            d.TTL.String(),
			DeregisterCriticalServiceAfter: d.DeregisterCriticalServiceAfter.String(),
		}
		if len(d.Header) > 0 {
			def.Header = make(map[string]*registryv1.HeaderValues, len(d.Header))
			for k, v := range d.Header {
				def.Header[k] = &registryv1.HeaderValues{Values: v}
			}
		}
		out.Definition = def
	}
	return out
}

// into sets the fields of req, an empty request, to what r asks for.
func (r *CatalogDeregistration) into(req *registryv1.DeregisterRequest) {
	req.Node, req.ServiceId, req.CheckId = r.Node, r.ServiceID, r.CheckID
	req.Options = &queryv1.WriteOptions{Datacenter: r.Datacenter}
}
