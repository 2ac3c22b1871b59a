package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/agentdef"
	"github.com/tribune/tribune/services/gateway/consul"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// The agent API (/v1/agent/...): the local agent's own services and
// checks. Its request bodies are Consul's definitions, read by
// lib/agentdef; its answers are written in Consul's shapes (package
// consul). What is HTTP about it (the status of pass/warn/fail in the
// path, ?enable, ?format=text, the health endpoints' status codes) is
// here, so that the router and the health service stay HTTP-free.

// Paths of the UpdateCheck bindings that carry the status in the path.
var statusByPattern = map[string]string{
	"/v1/agent/check/pass/{check_id}": consul.HealthPassing,
	"/v1/agent/check/warn/{check_id}": consul.HealthWarning,
	"/v1/agent/check/fail/{check_id}": consul.HealthCritical,
}

const (
	healthByIDPattern   = "/v1/agent/health/service/id/{service_id}"
	healthByNamePattern = "/v1/agent/health/service/name/{service_name}"
)

// agentHTTP is the agent service as the HTTP API calls it.
type agentHTTP struct {
	agentv1.AgentServiceServer
}

// UpdateCheck takes the status from the path for pass, warn and fail
// (their ?note, the output, is read by the query parser); update's
// status and output are in its body.
func (s agentHTTP) UpdateCheck(ctx context.Context, req *agentv1.UpdateCheckRequest) (*agentv1.UpdateCheckResponse, error) {
	if p, ok := gwruntime.HTTPPathPattern(ctx); ok {
		if st, ok := statusByPattern[p]; ok {
			req.Status = st
		}
	}
	return s.AgentServiceServer.UpdateCheck(ctx, req)
}

// GetService answers an unknown service with Consul's 404 text.
func (s agentHTTP) GetService(ctx context.Context, req *agentv1.GetServiceRequest) (*agentv1.GetServiceResponse, error) {
	resp, err := s.AgentServiceServer.GetService(ctx, req)
	if status.Code(err) == codes.NotFound || (err == nil && resp.GetService() == nil) {
		return nil, status.Errorf(codes.NotFound, "unknown service ID: %s", req.GetServiceId())
	}
	return resp, err
}

// ServiceHealth turns "no such service" into an empty answer: its status
// code and body (404 with Consul's body) are the response writer's.
func (s agentHTTP) ServiceHealth(ctx context.Context, req *agentv1.ServiceHealthRequest) (*agentv1.ServiceHealthResponse, error) {
	resp, err := s.AgentServiceServer.ServiceHealth(ctx, req)
	if status.Code(err) == codes.NotFound {
		return &agentv1.ServiceHealthResponse{}, nil
	}
	return resp, err
}

// Self also counts the agent's services and checks for Stats.agent,
// which `consul info` prints; they are left for the response writer in
// the request's state.
func (s agentHTTP) Self(ctx context.Context, req *agentv1.SelfRequest) (*agentv1.SelfResponse, error) {
	resp, err := s.AgentServiceServer.Self(ctx, req)
	if err != nil {
		return nil, err
	}
	st := stateFrom(ctx)
	if st == nil {
		return resp, nil
	}
	stats := map[string]map[string]string{
		"consul": {"server": strconv.FormatBool(resp.GetServer()), "acl": "disabled"},
		"runtime": {
			"os":        runtime.GOOS,
			"arch":      runtime.GOARCH,
			"version":   runtime.Version(),
			"cpu_count": strconv.Itoa(runtime.NumCPU()),
			"max_procs": strconv.Itoa(runtime.GOMAXPROCS(0)),
		},
	}
	// The counts are best effort: Self answers without them.
	services, serr := s.AgentServiceServer.ListServices(ctx, &agentv1.ListServicesRequest{})
	checks, cerr := s.AgentServiceServer.ListChecks(ctx, &agentv1.ListChecksRequest{})
	if serr == nil && cerr == nil {
		var ttls, monitors int
		for _, c := range checks.GetChecks() {
			switch c.GetType() {
			case "ttl":
				ttls++
			case "script":
				monitors++
			}
		}
		stats["agent"] = map[string]string{
			"services":       strconv.Itoa(len(services.GetServices())),
			"checks":         strconv.Itoa(len(checks.GetChecks())),
			"check_ttls":     strconv.Itoa(ttls),
			"check_monitors": strconv.Itoa(monitors),
		}
	}
	st.mu.Lock()
	st.stats = stats
	st.mu.Unlock()
	return resp, nil
}

// parseAgent reads the query parameters of the agent requests that take
// any. It reports whether msg is an agent request. ?hash, ?index and
// ?wait on /v1/agent/service/:id are accepted and ignored: the answer is
// immediate.
func parseAgent(msg proto.Message, v url.Values) (bool, error) {
	switch m := msg.(type) {
	case *agentv1.RegisterServiceRequest:
		// Consul: present and empty or "true".
		if has(v, "replace-existing-checks") {
			s := v.Get("replace-existing-checks")
			m.ReplaceExistingChecks = s == "" || s == "true"
		}
	case *agentv1.ListServicesRequest:
		m.Filter = v.Get("filter")
	case *agentv1.ListChecksRequest:
		m.Filter = v.Get("filter")
	case *agentv1.UpdateCheckRequest:
		// pass, warn and fail: ?note is the output.
		m.Output = v.Get("note")
	case *agentv1.SetMaintenanceRequest:
		if !has(v, "enable") {
			return true, badRequest("Missing value for enable")
		}
		raw := v.Get("enable")
		enable, err := strconv.ParseBool(raw)
		if err != nil {
			return true, badRequest(fmt.Sprintf("Invalid value for enable: %q", raw))
		}
		m.Enable, m.Reason = enable, v.Get("reason")
	case *agentv1.ServiceHealthRequest, *agentv1.GetServiceRequest,
		*agentv1.SelfRequest, *agentv1.ReloadRequest,
		*agentv1.DeregisterServiceRequest, *agentv1.DeregisterCheckRequest,
		*agentv1.RegisterCheckRequest:
	default:
		return false, nil
	}
	return true, nil
}

// decodeAgent reads an agent write's body into dst with decode. Its
// errors are Consul's 400 texts: "Request decode failed: ..." for a body
// that cannot be read (an empty one included, as Consul's decoder fails
// with EOF), the definition's problem otherwise.
func decodeAgent[M any](data []byte, dst *M, decode func([]byte) (M, error)) error {
	if len(data) == 0 {
		return fmt.Errorf("Request decode failed: %v", io.EOF)
	}
	v, err := decode(data)
	if errors.Is(err, agentdef.ErrMalformed) {
		return fmt.Errorf("Request decode failed: %v", err)
	}
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// decodeAgentBody decodes the bodies of the agent's writes; it reports
// whether v is one.
func decodeAgentBody(data []byte, v any) (bool, error) {
	switch dst := v.(type) {
	case **agentv1.ServiceDefinition:
		return true, decodeAgent(data, dst, agentdef.DecodeServiceRegistration)
	case **agentv1.CheckDefinition:
		return true, decodeAgent(data, dst, agentdef.DecodeCheckRegistration)
	case *agentv1.UpdateCheckRequest:
		var u *agentv1.UpdateCheckRequest
		if err := decodeAgent(data, &u, agentdef.DecodeCheckUpdate); err != nil {
			return true, err
		}
		dst.Status, dst.Output = u.GetStatus(), u.GetOutput()
		return true, nil
	}
	return false, nil
}

// isAgentWrite reports whether m answers an agent write, which Consul
// answers with an empty body.
func isAgentWrite(m proto.Message) bool {
	switch m.(type) {
	case *agentv1.RegisterServiceResponse, *agentv1.DeregisterServiceResponse,
		*agentv1.RegisterCheckResponse, *agentv1.DeregisterCheckResponse,
		*agentv1.UpdateCheckResponse, *agentv1.SetMaintenanceResponse,
		*agentv1.ReloadResponse:
		return true
	}
	return false
}

// agentView is the Consul-shaped body of an agent read.
func agentView(ctx context.Context, datacenter string, m proto.Message) (any, bool) {
	if isAgentWrite(m) {
		return emptyBody{}, true
	}
	switch r := m.(type) {
	case *agentv1.ListServicesResponse:
		return consul.AgentServicesFromProto(r.GetServices(), datacenter), true
	case *agentv1.GetServiceResponse:
		return consul.AgentServiceFromProto(r.GetService(), datacenter), true
	case *agentv1.ListChecksResponse:
		return consul.AgentChecksFromProto(r.GetChecks()), true
	case *agentv1.SelfResponse:
		var stats map[string]map[string]string
		if st := stateFrom(ctx); st != nil {
			st.mu.Lock()
			stats = st.stats
			st.mu.Unlock()
		}
		return consul.SelfFromProto(r, datacenter, buildInfo(), stats), true
	case *agentv1.ServiceHealthResponse:
		_, body := healthView(ctx, datacenter, r)
		return body, true
	}
	return nil, false
}

// healthCode is Consul's status code for an instance's aggregated status
// on the agent health endpoints: 200 passing, 429 warning, 503 otherwise
// (critical, maintenance).
func healthCode(st string) int {
	switch st {
	case consul.HealthPassing:
		return http.StatusOK
	case consul.HealthWarning:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// wantsText is Consul's returnTextPlain: an Accept of text/plain, else
// ?format=text.
func wantsText(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
		return true
	}
	return r.URL.Query().Get("format") == "text"
}

// healthView is the status code and body of /v1/agent/health/service/id/:id
// (one instance) and .../name/:name (every local instance of the name):
// the worst instance's code, 404 for none; with ?format=text the status
// alone as plain text.
func healthView(ctx context.Context, datacenter string, r *agentv1.ServiceHealthResponse) (int, any) {
	pattern, _ := gwruntime.HTTPPathPattern(ctx)
	byName := pattern == healthByNamePattern
	req := requestFrom(ctx)
	var text bool
	var key string
	if req != nil {
		text = wantsText(req)
		if byName {
			key = strings.TrimPrefix(req.URL.Path, "/v1/agent/health/service/name/")
		} else {
			key = strings.TrimPrefix(req.URL.Path, "/v1/agent/health/service/id/")
		}
	}

	infos := make([]*consul.AgentServiceChecksInfo, 0, len(r.GetInstances()))
	code, st := http.StatusNotFound, ""
	for _, i := range r.GetInstances() {
		if i.GetService() == nil {
			continue
		}
		info := consul.InstanceHealthFromProto(i, datacenter)
		infos = append(infos, info)
		if c := healthCode(info.AggregatedStatus); code == http.StatusNotFound || c > code {
			code, st = c, info.AggregatedStatus
		}
	}
	if len(infos) == 0 {
		if byName {
			if text {
				return code, rawBody(fmt.Sprintf("ServiceName %s Not Found", key))
			}
			return code, infos
		}
		if text {
			return code, rawBody(fmt.Sprintf("ServiceId %s not found", key))
		}
		return code, &consul.AgentServiceChecksInfo{AggregatedStatus: consul.HealthCritical}
	}
	switch {
	case text:
		return code, rawBody(st)
	case byName:
		return code, infos
	}
	return code, infos[0]
}

// forwardAgent sets the status and headers of an agent answer.
func forwardAgent(ctx context.Context, datacenter string, w http.ResponseWriter, m proto.Message) {
	if isAgentWrite(m) {
		w.Header().Del("Content-Type")
		return
	}
	r, ok := m.(*agentv1.ServiceHealthResponse)
	if !ok {
		return
	}
	code, body := healthView(ctx, datacenter, r)
	if _, raw := body.(rawBody); raw {
		w.Header().Set("Content-Type", "text/plain")
	}
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
}

// requestState is what one request's handlers leave for its response
// writer.
type requestState struct {
	mu    sync.Mutex
	stats map[string]map[string]string
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// buildInfo is the binary's VCS revision and time, when it was built from
// a checkout; otherwise Consul's defaults for a build that sets none.
var buildInfo = sync.OnceValue(func() consul.BuildInfo {
	out := consul.BuildInfo{BuildDate: "1970-01-01T00:00:01Z"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.BuildDate = s.Value
		}
	}
	return out
})
