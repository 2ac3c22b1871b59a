package httpapi

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
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
	case *statusv1.LeaderRequest:
		m.Datacenter = v.Get("dc")
	case *statusv1.PeersRequest:
		m.Datacenter = v.Get("dc")
	default:
		return (&runtime.DefaultQueryParser{}).Parse(msg, v, filter)
	}
	return nil
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
