package httpapi

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// queryParser reads Consul's query parameters into the gRPC requests:
// bare flags (?recurse, ?stale), Go durations (?wait=5s), and Consul's
// error messages for bad values. Parameters a request does not know are
// ignored, as Consul ignores them.
type queryParser struct{}

var _ runtime.QueryParameterParser = queryParser{}

// badRequest is a bad parameter; grpc-gateway returns a parser's error as
// InvalidArgument with the error's text as the message.
func badRequest(msg string) error { return errors.New(msg) }

func has(v url.Values, name string) bool {
	_, ok := v[name]
	return ok
}

func (queryParser) Parse(msg proto.Message, v url.Values, filter *utilities.DoubleArray) error {
	switch m := msg.(type) {
	case *kvv1.GetRequest:
		opts, err := queryOptions(v)
		if err != nil {
			return err
		}
		m.Options = opts
		m.Recurse = has(v, "recurse")
		m.KeysOnly = has(v, "keys")
		m.Separator = v.Get("separator")
	case *kvv1.PutRequest:
		if conflicting(v, "cas", "acquire", "release") {
			return badRequest("Conflicting flags: " + v.Encode())
		}
		if has(v, "acquire") || has(v, "release") {
			return badRequest("Sessions are not supported yet: acquire and release are refused")
		}
		if has(v, "flags") {
			f, err := strconv.ParseUint(v.Get("flags"), 10, 64)
			if err != nil {
				return badRequest("Invalid flags")
			}
			m.Flags = f
		}
		cas, err := casIndex(v)
		if err != nil {
			return err
		}
		m.Cas = cas
		m.Options = &queryv1.WriteOptions{Datacenter: v.Get("dc")}
	case *kvv1.DeleteRequest:
		if conflicting(v, "recurse", "cas") {
			return badRequest("Conflicting flags: " + v.Encode())
		}
		m.Recurse = has(v, "recurse")
		cas, err := casIndex(v)
		if err != nil {
			return err
		}
		m.Cas = cas
		m.Options = &queryv1.WriteOptions{Datacenter: v.Get("dc")}
	default:
		if ok, err := parseOperator(msg, v); ok {
			return err
		}
		if ok, err := parseRegistry(msg, v); ok {
			return err
		}
		if ok, err := parseAgent(msg, v); ok {
			return err
		}
		if parseMembers(msg, v) {
			return nil
		}
		return (&runtime.DefaultQueryParser{}).Parse(msg, v, filter)
	}
	return nil
}

// parseRegistry reads the parameters of the catalog and health reads:
// the common ones, tag (repeatable: instances with every tag), node-meta
// (repeatable key:value), filter, near and passing. It reports whether msg
// is one of those requests.
func parseRegistry(msg proto.Message, v url.Values) (bool, error) {
	switch msg.(type) {
	case *registryv1.ListNodesRequest, *registryv1.ListServicesRequest,
		*registryv1.ServiceNodesRequest, *registryv1.NodeServicesRequest,
		*registryv1.NodeChecksRequest, *registryv1.ServiceChecksRequest,
		*registryv1.ChecksInStateRequest, *registryv1.ServiceHealthRequest:
	default:
		return false, nil
	}
	opts, err := queryOptions(v)
	if err != nil {
		return true, err
	}
	filter, meta, tags, near := v.Get("filter"), nodeMeta(v), v["tag"], v.Get("near")
	switch m := msg.(type) {
	case *registryv1.ListNodesRequest:
		m.Options, m.NodeMeta, m.Filter, m.Near = opts, meta, filter, near
	case *registryv1.ListServicesRequest:
		m.Options, m.NodeMeta, m.Filter = opts, meta, filter
	case *registryv1.ServiceNodesRequest:
		m.Options, m.NodeMeta, m.Filter, m.Tags, m.Near = opts, meta, filter, tags, near
	case *registryv1.NodeServicesRequest:
		m.Options, m.Filter = opts, filter
	case *registryv1.NodeChecksRequest:
		m.Options, m.Filter = opts, filter
	case *registryv1.ServiceChecksRequest:
		m.Options, m.NodeMeta, m.Filter, m.Near = opts, meta, filter, near
	case *registryv1.ChecksInStateRequest:
		m.Options, m.NodeMeta, m.Filter, m.Near = opts, meta, filter, near
	case *registryv1.ServiceHealthRequest:
		passing, err := boolParam(v, "passing")
		if err != nil {
			return true, badRequest("Invalid value for ?passing")
		}
		m.Options, m.NodeMeta, m.Filter, m.Tags, m.PassingOnly, m.Near = opts, meta, filter, tags, passing, near
	}
	return true, nil
}

// nodeMeta reads the node-meta=key:value parameters (Consul's
// parseMetaFilter: a pair without a colon is the key with an empty value).
func nodeMeta(v url.Values) map[string]string {
	pairs, ok := v["node-meta"]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, val, _ := strings.Cut(p, ":")
		out[k] = val
	}
	return out
}

// boolParam reads a flag as Consul's getBoolQueryParam does: absent is
// false, present without a value is true, otherwise strconv.ParseBool.
func boolParam(v url.Values, name string) (bool, error) {
	if !has(v, name) {
		return false, nil
	}
	s := v.Get(name)
	if s == "" {
		return true, nil
	}
	return strconv.ParseBool(s)
}

// conflicting reports whether more than one of flags is present.
func conflicting(v url.Values, flags ...string) bool {
	n := 0
	for _, f := range flags {
		if has(v, f) {
			n++
		}
	}
	return n > 1
}

func casIndex(v url.Values) (*uint64, error) {
	if !has(v, "cas") {
		return nil, nil
	}
	cas, err := strconv.ParseUint(v.Get("cas"), 10, 64)
	if err != nil {
		return nil, badRequest("Invalid cas index")
	}
	return &cas, nil
}

// queryOptions reads the options every read takes: dc, index, wait, stale,
// consistent (Consul's parseWait and parseConsistency).
func queryOptions(v url.Values) (*queryv1.QueryOptions, error) {
	o := &queryv1.QueryOptions{Datacenter: v.Get("dc")}
	if s := v.Get("index"); s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, badRequest("Invalid index")
		}
		o.MinIndex = idx
	}
	if s := v.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, badRequest("Invalid wait time")
		}
		o.Wait = durationpb.New(d)
	}
	stale, consistent := has(v, "stale"), has(v, "consistent")
	switch {
	case stale && consistent:
		return nil, badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	case stale:
		o.Consistency = queryv1.Consistency_CONSISTENCY_STALE
	case consistent:
		o.Consistency = queryv1.Consistency_CONSISTENCY_CONSISTENT
	}
	return o, nil
}
