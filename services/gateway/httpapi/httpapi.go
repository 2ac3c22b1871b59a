// Package httpapi serves Consul's /v1 HTTP API with grpc-gateway. The HTTP
// rules (proto/tribune/http.yaml) map paths onto the gRPC services; this
// package supplies the extension points that make the answers Consul's:
//
//   - a query-parameter parser for Consul's parameters (query.go),
//   - a marshaler writing Consul's JSON: PascalCase, integers as numbers,
//     bare booleans, raw bodies; and reading Consul's registration bodies
//     (marshaler.go),
//   - a forward-response option and rewriter that set the X-Consul-*
//     headers and status codes and turn responses into Consul's shapes
//     (response.go),
//   - an error handler writing plain-text errors with Consul's status
//     codes (errors.go),
//   - for the agent API, a wrapper of the agent service that reads what
//     is in the HTTP request (pass/warn/fail in the path), and the
//     health endpoints' status codes (agent.go).
package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// Config holds the HTTP API's limits.
type Config struct {
	// MaxValueSize is the largest KV value accepted (Consul's
	// kv_max_value_size); a larger body is refused with 413.
	MaxValueSize int
	// Datacenter is the agent's datacenter, which the agent endpoints
	// write in each service (and in /v1/agent/self when the health service
	// names none). Empty leaves it out.
	Datacenter string
}

// Services are the gRPC services the API calls in-process.
type Services struct {
	KV     kvv1.KVServiceServer
	Status statusv1.StatusServiceServer
	// Registry serves /v1/catalog and /v1/health. It is expected to apply
	// the requests' filter itself (the router's Registry does).
	Registry registryv1.RegistryServiceServer
	// Agent serves /v1/agent (the local agent's services and checks). It
	// is expected to apply ListServices' and ListChecks' filter itself (the
	// router's Agent does).
	Agent agentv1.AgentServiceServer
	// Members serves /v1/agent/members, join, leave and force-leave; the
	// routes are absent when it is nil.
	Members membershipv1.MembershipServiceServer
}

// New returns the /v1 handler.
func New(ctx context.Context, cfg Config, svc Services) (http.Handler, error) {
	if cfg.MaxValueSize <= 0 {
		return nil, errors.New("httpapi: MaxValueSize must be positive")
	}
	if svc.KV == nil || svc.Status == nil || svc.Registry == nil || svc.Agent == nil {
		return nil, errors.New("httpapi: KV, Status, Registry and Agent services are required")
	}
	mux := runtime.NewServeMux(
		runtime.SetQueryParameterParser(queryParser{}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &marshaler{maxValueSize: cfg.MaxValueSize}),
		runtime.WithForwardResponseOption(func(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
			return forwardResponse(ctx, cfg, w, m)
		}),
		runtime.WithForwardResponseRewriter(func(ctx context.Context, m proto.Message) (any, error) {
			return rewriteResponse(ctx, cfg, m)
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		// gRPC metadata stays inside: Consul's headers come from QueryMeta.
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithWriteContentLength(),
	)
	if err := kvv1.RegisterKVServiceHandlerServer(ctx, mux, svc.KV); err != nil {
		return nil, err
	}
	if err := statusv1.RegisterStatusServiceHandlerServer(ctx, mux, svc.Status); err != nil {
		return nil, err
	}
	reg := registryHTTP{RegistryServiceServer: svc.Registry}
	if err := registryv1.RegisterRegistryServiceHandlerServer(ctx, mux, reg); err != nil {
		return nil, err
	}
	if err := agentv1.RegisterAgentServiceHandlerServer(ctx, mux, agentHTTP{svc.Agent}); err != nil {
		return nil, err
	}
	if svc.Members != nil {
		if err := membershipv1.RegisterMembershipServiceHandlerServer(ctx, mux, svc.Members); err != nil {
			return nil, err
		}
	}
	return withRequest(limitKVBody(cfg.MaxValueSize, mux)), nil
}

type requestKey struct{}

// withRequest keeps the HTTP request in the context, where the response
// options read the parameters that shape a response (?raw, ?keys) but are
// not part of the gRPC request, and a requestState, where a handler
// leaves what it learned for the response writer.
func withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), requestKey{}, r)
		ctx = context.WithValue(ctx, stateKey{}, &requestState{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func requestFrom(ctx context.Context) *http.Request {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	return r
}

// limitKVBody refuses a KV PUT whose declared length is over the limit
// before reading it, as Consul does; a body without a length is cut at the
// limit by the marshaler and refused by the KV service.
func limitKVBody(limit int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/kv/") && r.ContentLength > int64(limit) {
			writeError(w, http.StatusRequestEntityTooLarge,
				"Request body("+strconv.FormatInt(r.ContentLength, 10)+" bytes) too large, max size: "+
					strconv.Itoa(limit)+" bytes")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// registryHTTP is the registry as the HTTP API calls it. A registration's
// datacenter is its body's Datacenter, else the ?dc parameter, where the
// Go client sends WriteOptions.Datacenter; the HTTP rules bind the body
// only, so the parameter is read here.
type registryHTTP struct {
	registryv1.RegistryServiceServer
}

// writeOptions returns o with its datacenter defaulted from ?dc.
func writeOptions(ctx context.Context, o *queryv1.WriteOptions) *queryv1.WriteOptions {
	if o == nil {
		o = &queryv1.WriteOptions{}
	}
	if o.Datacenter == "" {
		if r := requestFrom(ctx); r != nil {
			o.Datacenter = r.URL.Query().Get("dc")
		}
	}
	return o
}

func (s registryHTTP) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	req.Options = writeOptions(ctx, req.Options)
	return s.RegistryServiceServer.Register(ctx, req)
}

func (s registryHTTP) Deregister(ctx context.Context, req *registryv1.DeregisterRequest) (*registryv1.DeregisterResponse, error) {
	req.Options = writeOptions(ctx, req.Options)
	return s.RegistryServiceServer.Deregister(ctx, req)
}
