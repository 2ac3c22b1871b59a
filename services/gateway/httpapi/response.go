package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/services/gateway/consul"

	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// kvPair is a KV entry as Consul's API writes it (api.KVPair).
type kvPair struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	CreateIndex uint64
	ModifyIndex uint64
	Session     string `json:",omitempty"`
}

// effectiveConsistency is X-Consul-Effective-Consistency for each mode.
var effectiveConsistency = map[queryv1.Consistency]string{
	queryv1.Consistency_CONSISTENCY_UNSPECIFIED: "leader",
	queryv1.Consistency_CONSISTENCY_CONSISTENT:  "consistent",
	queryv1.Consistency_CONSISTENCY_STALE:       "stale",
}

// setMeta writes the headers Consul sets on every read.
func setMeta(h http.Header, m *queryv1.QueryMeta) {
	h.Set("X-Consul-Index", strconv.FormatUint(max(m.GetIndex(), 1), 10))
	h.Set("X-Consul-KnownLeader", strconv.FormatBool(m.GetKnownLeader()))
	h.Set("X-Consul-LastContact", strconv.FormatUint(m.GetLastContactMs(), 10))
	h.Set("X-Consul-Effective-Consistency", effectiveConsistency[m.GetConsistency()])
}

// kvView is how a KV read is written: its status and Consul-shaped body.
func kvView(ctx context.Context, r *kvv1.GetResponse) (int, any) {
	var raw, keys bool
	var key string
	if req := requestFrom(ctx); req != nil {
		q := req.URL.Query()
		raw, keys = has(q, "raw"), has(q, "keys")
		key = req.URL.Path[len("/v1/kv"):]
	}
	switch {
	case keys:
		// Listing the root of an empty store is an empty list, not a 404.
		if len(r.Keys) == 0 && key != "" && key != "/" {
			return http.StatusNotFound, emptyBody{}
		}
		if r.Keys == nil {
			return http.StatusOK, []string{}
		}
		return http.StatusOK, r.Keys
	case len(r.Pairs) == 0:
		return http.StatusNotFound, emptyBody{}
	case raw:
		return http.StatusOK, rawBody(r.Pairs[0].Value)
	}
	out := make([]kvPair, len(r.Pairs))
	for i, p := range r.Pairs {
		out[i] = kvPair{
			LockIndex: p.LockIndex, Key: p.Key, Flags: p.Flags, Value: p.Value,
			CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex, Session: p.Session,
		}
	}
	return http.StatusOK, out
}

// forwardResponse sets the headers and status of a successful call: the
// X-Consul-* headers on every read (every response with a QueryMeta).
func forwardResponse(ctx context.Context, cfg Config, w http.ResponseWriter, m proto.Message) error {
	if mm, ok := m.(interface{ GetMeta() *queryv1.QueryMeta }); ok {
		setMeta(w.Header(), mm.GetMeta())
	}
	if r, ok := m.(*kvv1.GetResponse); ok {
		code, body := kvView(ctx, r)
		if _, raw := body.(rawBody); raw {
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "sandbox")
		}
		if code != http.StatusOK {
			w.Header().Del("Content-Type")
			w.WriteHeader(code)
		}
	}
	forwardAgent(ctx, cfg.Datacenter, w, m)
	return nil
}

// rewriteResponse turns a gRPC response into the value Consul writes.
func rewriteResponse(ctx context.Context, cfg Config, m proto.Message) (any, error) {
	switch r := m.(type) {
	case *kvv1.GetResponse:
		_, body := kvView(ctx, r)
		return body, nil
	case *kvv1.PutResponse:
		return r.Ok, nil
	case *kvv1.DeleteResponse:
		return r.Ok, nil
	}
	if body, ok := operatorView(m); ok {
		return body, nil
	}
	if body, ok := registryView(m); ok {
		return body, nil
	}
	if body, ok := agentView(ctx, cfg.Datacenter, m); ok {
		return body, nil
	}
	if body, ok := membersView(m); ok {
		return body, nil
	}
	return m, nil
}

// registryView is the Consul-shaped body of a catalog or health response
// (see package consul for the empty-value rules).
func registryView(m proto.Message) (any, bool) {
	switch r := m.(type) {
	case *registryv1.RegisterResponse, *registryv1.DeregisterResponse:
		// Consul answers a catalog write with a bare true.
		return true, true
	case *registryv1.ListDatacentersResponse:
		if r.Datacenters == nil {
			return []string{}, true
		}
		return r.Datacenters, true
	case *registryv1.ListNodesResponse:
		return consul.NodesFromProto(r.GetNodes()), true
	case *registryv1.ListServicesResponse:
		return consul.ServicesFromProto(r.GetServices()), true
	case *registryv1.ServiceNodesResponse:
		return consul.CatalogServicesFromProto(r.GetInstances()), true
	case *registryv1.NodeServicesResponse:
		// An unknown node is a 200 with the body null.
		return consul.CatalogNodeFromProto(r), true
	case *registryv1.NodeChecksResponse:
		return consul.ChecksFromProto(r.GetChecks()), true
	case *registryv1.ServiceChecksResponse:
		return consul.ChecksFromProto(r.GetChecks()), true
	case *registryv1.ChecksInStateResponse:
		return consul.ChecksFromProto(r.GetChecks()), true
	case *registryv1.ServiceHealthResponse:
		return consul.ServiceEntriesFromProto(r.GetEntries()), true
	}
	return nil, false
}
