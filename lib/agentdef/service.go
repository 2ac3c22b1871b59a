package agentdef

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// serviceFrom reads a service definition (structs.ServiceDefinition in
// Consul), validates it and applies Consul's defaults.
func serviceFrom(o *object) (*agentv1.ServiceDefinition, error) {
	s := &agentv1.ServiceDefinition{}
	var err error
	if s.Kind, err = o.string("Kind"); err != nil {
		return nil, err
	}
	if s.Id, err = o.string("ID"); err != nil {
		return nil, err
	}
	if s.Name, err = o.string("Name"); err != nil {
		return nil, err
	}
	if s.Tags, err = o.strings("Tags"); err != nil {
		return nil, err
	}
	if s.Address, err = o.string("Address"); err != nil {
		return nil, err
	}
	port, err := o.int("Port")
	if err != nil {
		return nil, err
	}
	if err := o.decode(&s.Meta, "Meta"); err != nil {
		return nil, err
	}
	if s.EnableTagOverride, err = o.bool("EnableTagOverride"); err != nil {
		return nil, err
	}
	tagged, err := taggedAddresses(o)
	if err != nil {
		return nil, err
	}
	weights, err := weightsFrom(o)
	if err != nil {
		return nil, err
	}
	// Consul appends Checks to Check.
	var checkObjs []*object
	for _, names := range [][]string{{"Check"}, {"Checks"}} {
		objs, err := o.objects(names...)
		if err != nil {
			return nil, err
		}
		checkObjs = append(checkObjs, objs...)
	}
	type parsedCheck struct {
		obj         *object
		def         *agentv1.CheckDefinition
		unsupported string
	}
	var parsed []parsedCheck
	for _, co := range checkObjs {
		c, unsupported, empty, err := checkFrom(co, "CheckID", "ID")
		if err != nil {
			return nil, err
		}
		if empty {
			// Consul drops an empty Check, which is what a client
			// that sets none may send.
			continue
		}
		parsed = append(parsed, parsedCheck{co, c, unsupported})
	}

	// Validation, in the order of Consul's handler.
	if s.Name == "" {
		return nil, invalid("Missing service name")
	}
	if isAny(s.Address) {
		return nil, invalid("Invalid service address")
	}
	if port < 0 || port > math.MaxUint16 {
		return nil, invalidf("Invalid service port: %d (must be 0-65535)", port)
	}
	s.Port = int32(port)
	if weights != nil {
		if err := validateWeights(weights); err != nil {
			return nil, invalidf("Invalid Weights: %v", err)
		}
		s.Weights = weights
	}
	if err := validateMeta(s.Meta); err != nil {
		return nil, invalidf("Invalid Service Meta: %v", err)
	}
	s.TaggedAddresses = tagged
	checks := make([]*agentv1.CheckDefinition, 0, len(parsed))
	for _, p := range parsed {
		if err := validateCheck(p.obj.path, p.def, p.unsupported); err != nil {
			return nil, err
		}
		checks = append(checks, p.def)
	}
	for _, p := range parsed {
		if st := p.def.Status; st != "" && !validUpdateStatus(st) {
			return nil, invalidf("Status for checks must 'passing', 'warning', 'critical': %s is %q",
				p.obj.written("Status"), st)
		}
	}

	// Consul's defaults (Agent.addServiceInternal).
	if s.Id == "" {
		s.Id = s.Name
	}
	for i, c := range checks {
		if c.CheckId == "" {
			c.CheckId = "service:" + s.Id
			if len(checks) > 1 {
				c.CheckId += fmt.Sprintf(":%d", i+1)
			}
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("Service '%s' check", s.Name)
		}
		c.ServiceId = s.Id
	}
	if len(checks) > 0 {
		s.Checks = checks
	}
	return s, nil
}

// standaloneCheckFrom reads a check registered on its own
// (structs.CheckDefinition in Consul): its ID is ID, or CheckID as the Go
// client's embedded AgentServiceCheck spells it; it must have a name,
// which is its ID by default.
func standaloneCheckFrom(o *object) (*agentv1.CheckDefinition, error) {
	c, unsupported, _, err := checkFrom(o, "ID", "CheckID")
	if err != nil {
		return nil, err
	}
	if c.Name == "" {
		return nil, invalid("Missing check name")
	}
	if c.Status != "" && !validUpdateStatus(c.Status) {
		return nil, invalidf("Bad check status: %q", c.Status)
	}
	if err := validateCheck("", c, unsupported); err != nil {
		return nil, err
	}
	if c.CheckId == "" {
		c.CheckId = c.Name
	}
	return c, nil
}

// unsupportedKinds are the check kinds Consul runs and Tribune does not,
// by the field that makes a check one of them.
var unsupportedKinds = []struct{ field, kind string }{
	{"DockerContainerID", "Docker"},
	{"AliasNode", "alias"},
	{"AliasService", "alias"},
	{"H2PING", "H2PING"},
	{"UDP", "UDP"},
	{"OSService", "OSService"},
}

// checkFrom reads a check's fields, its ID from the first of idNames
// present. It also returns the kind of check Tribune does not run that the
// check is, if any, and reports whether the check is empty (Consul's
// CheckType.Empty: nothing set at all).
func checkFrom(o *object, idNames ...string) (_ *agentv1.CheckDefinition, unsupported string, empty bool, _ error) {
	c := &agentv1.CheckDefinition{}
	var err error
	for _, f := range []struct {
		dst   *string
		names []string
	}{
		{&c.CheckId, idNames},
		{&c.Name, []string{"Name"}},
		{&c.Notes, []string{"Notes"}},
		{&c.ServiceId, []string{"ServiceID"}},
		{&c.Status, []string{"Status"}},
		{&c.Http, []string{"HTTP"}},
		{&c.Method, []string{"Method"}},
		{&c.Body, []string{"Body"}},
		{&c.Tcp, []string{"TCP"}},
		{&c.Grpc, []string{"GRPC"}},
	} {
		if *f.dst, err = o.string(f.names...); err != nil {
			return nil, "", false, err
		}
	}
	// "ScriptArgs" (what the Go client writes; "script_args" in files),
	// else "Args", as Consul reads them.
	if c.Args, err = o.strings("ScriptArgs", "Args"); err != nil {
		return nil, "", false, err
	}
	if c.TlsSkipVerify, err = o.bool("TLSSkipVerify"); err != nil {
		return nil, "", false, err
	}
	if c.GrpcUseTls, err = o.bool("GRPCUseTLS"); err != nil {
		return nil, "", false, err
	}
	for _, f := range []struct {
		dst  **durationpb.Duration
		name string
	}{
		{&c.Ttl, "TTL"},
		{&c.Interval, "Interval"},
		{&c.Timeout, "Timeout"},
		{&c.DeregisterCriticalServiceAfter, "DeregisterCriticalServiceAfter"},
	} {
		if *f.dst, err = o.duration(f.name); err != nil {
			return nil, "", false, err
		}
	}
	for _, f := range []struct {
		dst  *int32
		name string
	}{
		{&c.SuccessBeforePassing, "SuccessBeforePassing"},
		{&c.FailuresBeforeCritical, "FailuresBeforeCritical"},
	} {
		n, err := o.int(f.name)
		if err != nil {
			return nil, "", false, err
		}
		if n < 0 || n > math.MaxInt32 {
			return nil, "", false, invalidf("Invalid check: %s must be 0 or more, got %d", o.written(f.name), n)
		}
		*f.dst = int32(n)
	}
	var header map[string][]string
	if err := o.decode(&header, "Header"); err != nil {
		return nil, "", false, err
	}
	if len(header) > 0 {
		c.Header = make(map[string]*registryv1.HeaderValues, len(header))
		for k, v := range header {
			c.Header[k] = &registryv1.HeaderValues{Values: v}
		}
	}
	for _, u := range unsupportedKinds {
		s, err := o.string(u.field)
		if err != nil {
			return nil, "", false, err
		}
		if s != "" && unsupported == "" {
			unsupported = u.kind
		}
	}
	return c, unsupported, proto.Size(c) == 0 && unsupported == "", nil
}

// validateCheck refuses the check kinds Tribune does not run, then
// applies Consul's CheckType.Validate and Tribune's rule of one kind per
// check. path names the check in a service ("Checks[1]").
func validateCheck(path string, c *agentv1.CheckDefinition, unsupported string) error {
	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if path != "" {
			msg = path + ": " + msg
		}
		return invalid("Invalid check: " + msg)
	}
	if unsupported != "" {
		return fail("%s checks are not supported", unsupported)
	}
	ttl, interval := c.Ttl.AsDuration(), c.Interval.AsDuration()
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"TTL", ttl > 0},
		{"HTTP", c.Http != ""},
		{"TCP", c.Tcp != ""},
		{"GRPC", c.Grpc != ""},
		{"Args", len(c.Args) > 0},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	intervalCheck := c.Http != "" || c.Tcp != "" || c.Grpc != "" || len(c.Args) > 0
	switch {
	case interval > 0 && ttl > 0:
		return fail("Interval and TTL cannot both be specified")
	case len(kinds) > 1:
		return fail("only one of TTL, HTTP, TCP, GRPC or Args may be given, got %s", strings.Join(kinds, " and "))
	case intervalCheck && interval <= 0:
		return fail("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")
	case !intervalCheck && ttl <= 0:
		return fail("TTL must be > 0 for TTL checks")
	}
	return nil
}

// taggedAddresses reads TaggedAddresses: name to {Address, Port}.
func taggedAddresses(o *object) (map[string]*registryv1.ServiceAddress, error) {
	v, name, ok := o.raw("TaggedAddresses")
	if !ok {
		return nil, nil
	}
	path := o.fieldPath(name)
	if describe(v) != "an object" {
		return nil, malformed(path, fmt.Errorf("want an object, got %s", describe(v)))
	}
	// The map's keys are data: they are kept as written.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, malformed(path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]*registryv1.ServiceAddress, len(raw))
	for _, k := range keys {
		ap := fmt.Sprintf("%s[%q]", path, k)
		if describe(raw[k]) == "null" {
			continue
		}
		a, err := parseObject(ap, raw[k])
		if err != nil {
			return nil, err
		}
		addr, err := a.string("Address")
		if err != nil {
			return nil, err
		}
		port, err := a.int("Port")
		if err != nil {
			return nil, err
		}
		if port < 0 || port > math.MaxUint16 {
			return nil, invalidf("Invalid service port for %s: %d (must be 0-65535)", ap, port)
		}
		out[k] = &registryv1.ServiceAddress{Address: addr, Port: int32(port)}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// weightsFrom reads Weights, nil when absent.
func weightsFrom(o *object) (*registryv1.Weights, error) {
	v, name, ok := o.raw("Weights")
	if !ok {
		return nil, nil
	}
	w, err := parseObject(o.fieldPath(name), v)
	if err != nil {
		return nil, err
	}
	passing, err := w.int("Passing")
	if err != nil {
		return nil, err
	}
	warning, err := w.int("Warning")
	if err != nil {
		return nil, err
	}
	if passing > math.MaxInt32 || warning > math.MaxInt32 || passing < math.MinInt32 || warning < math.MinInt32 {
		return nil, invalid("Invalid Weights: DNS Weight must be between 0 and 65535")
	}
	return &registryv1.Weights{Passing: int32(passing), Warning: int32(warning)}, nil
}

// validateWeights is Consul's structs.ValidateWeights.
func validateWeights(w *registryv1.Weights) error {
	switch {
	case w.Passing < 1:
		return fmt.Errorf("Passing must be greater than 0")
	case w.Warning < 0:
		return fmt.Errorf("Warning must be greater or equal than 0")
	case w.Passing > 65535 || w.Warning > 65535:
		return fmt.Errorf("DNS Weight must be between 0 and 65535")
	}
	return nil
}

// Consul's limits on metadata (agent/structs).
const (
	metaMaxKeyPairs       = 64
	metaKeyMaxLength      = 128
	metaValueMaxLength    = 512
	metaKeyReservedPrefix = "consul-"
)

var metaKeyFormat = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`).MatchString

// validateMeta is Consul's validateMetadata for a typical service (no
// "consul-" keys), checking the keys in order so the error is stable.
func validateMeta(meta map[string]string) error {
	if len(meta) > metaMaxKeyPairs {
		return fmt.Errorf("Node metadata cannot contain more than %d key/value pairs", metaMaxKeyPairs)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		value := meta[key]
		var err error
		switch {
		case key == "":
			err = fmt.Errorf("Key cannot be blank")
		case !metaKeyFormat(key):
			err = fmt.Errorf("Key contains invalid characters")
		case len(key) > metaKeyMaxLength:
			err = fmt.Errorf("Key is too long (limit: %d characters)", metaKeyMaxLength)
		case strings.HasPrefix(key, metaKeyReservedPrefix):
			err = fmt.Errorf("Key prefix '%s' is reserved for internal use", metaKeyReservedPrefix)
		case len(value) > metaValueMaxLength:
			err = fmt.Errorf("Value is too long (limit: %d characters)", metaValueMaxLength)
		}
		if err != nil {
			return fmt.Errorf("Couldn't load metadata pair ('%s', '%s'): %v", key, value, err)
		}
	}
	return nil
}

// isAny reports whether addr is the unspecified address (0.0.0.0, ::),
// which Consul refuses as a service address (ipaddr.IsAny).
func isAny(addr string) bool {
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	return ip != nil && ip.IsUnspecified()
}
