package checks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// Check statuses, as Consul spells them.
const (
	Passing  = "passing"
	Warning  = "warning"
	Critical = "critical"
)

// DefaultTimeout bounds a probe whose definition sets no timeout.
const DefaultTimeout = 10 * time.Second

// Errors of this package; test with errors.Is.
var (
	// ErrInvalidDefinition is wrapped by every *DefinitionError.
	ErrInvalidDefinition = errors.New("invalid check definition")
	// ErrScriptChecksDisabled: a script check while
	// Config.EnableScriptChecks is off.
	ErrScriptChecksDisabled = errors.New("script checks are disabled")
	// ErrUnknownCheck: no running check has that ID.
	ErrUnknownCheck = errors.New("unknown check")
	// ErrNotTTL: UpdateTTL on a check that is not a TTL check.
	ErrNotTTL = errors.New("not a TTL check")
	// ErrInvalidStatus: a status other than passing, warning or critical.
	ErrInvalidStatus = errors.New("invalid check status")
	// ErrClosed: the Runner is closed.
	ErrClosed = errors.New("check runner closed")
)

// DefinitionError is a check definition that cannot run: which check,
// which field, what is wrong with it. Its message reads
// `check "web": interval must be set for an HTTP check`.
type DefinitionError struct {
	CheckID string
	// Field is the definition's field at fault, as the proto names it
	// ("interval", "http", ...); empty when it is about several.
	Field   string
	Problem string

	cause error // a more specific sentinel, such as ErrScriptChecksDisabled
}

func (e *DefinitionError) Error() string {
	if e.CheckID == "" {
		return "check: " + e.Problem
	}
	return fmt.Sprintf("check %q: %s", e.CheckID, e.Problem)
}

// Unwrap makes errors.Is match ErrInvalidDefinition, and the specific
// cause when there is one.
func (e *DefinitionError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrInvalidDefinition, e.cause}
	}
	return []error{ErrInvalidDefinition}
}

// Kind is what a check does.
type Kind int

// The kinds of check.
const (
	KindTTL Kind = iota + 1
	KindHTTP
	KindTCP
	KindGRPC
	KindScript
)

// String returns the kind as Consul's HealthCheck.Type spells it.
func (k Kind) String() string {
	switch k {
	case KindTTL:
		return "ttl"
	case KindHTTP:
		return "http"
	case KindTCP:
		return "tcp"
	case KindGRPC:
		return "grpc"
	case KindScript:
		return "script"
	}
	return ""
}

// label is the kind as error messages name it.
func (k Kind) label() string {
	switch k {
	case KindTTL:
		return "a TTL"
	case KindHTTP:
		return "an HTTP"
	case KindTCP:
		return "a TCP"
	case KindGRPC:
		return "a gRPC"
	case KindScript:
		return "a script"
	}
	return "a"
}

// CheckID is the check's ID: check_id, or the name when that is empty.
func CheckID(def *agentv1.CheckDefinition) string {
	if def.GetCheckId() != "" {
		return def.GetCheckId()
	}
	return def.GetName()
}

// Type is Consul's HealthCheck.Type of the definition: ttl, http, tcp,
// grpc or script; empty when it sets none or several of them.
func Type(def *agentv1.CheckDefinition) string {
	kinds := kindsOf(def)
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0].String()
}

func kindsOf(def *agentv1.CheckDefinition) []Kind {
	var ks []Kind
	if def.GetTtl() != nil && def.GetTtl().AsDuration() != 0 {
		ks = append(ks, KindTTL)
	}
	if def.GetHttp() != "" {
		ks = append(ks, KindHTTP)
	}
	if def.GetTcp() != "" {
		ks = append(ks, KindTCP)
	}
	if def.GetGrpc() != "" {
		ks = append(ks, KindGRPC)
	}
	if len(def.GetArgs()) > 0 {
		ks = append(ks, KindScript)
	}
	return ks
}

var kindField = map[Kind]string{KindTTL: "ttl", KindHTTP: "http", KindTCP: "tcp", KindGRPC: "grpc", KindScript: "args"}

// spec is a validated definition with its defaults applied.
type spec struct {
	id, serviceID          string
	kind                   Kind
	ttl, interval, timeout time.Duration
	successBeforePassing   int
	failuresBeforeCritical int
	criticalAfter          time.Duration // deregister_critical_service_after, 0: never
	status                 string        // initial status from the definition, "" if unset
}

// ValidateDefinition reports why def cannot run under cfg, as a
// *DefinitionError naming the check and the field; nil when it can.
// Consul is laxer (it takes the first kind set and finds most mistakes
// only when the probe fails); refusing at registration is kinder.
func ValidateDefinition(def *agentv1.CheckDefinition, cfg Config) error {
	_, err := parse(def, cfg)
	return err
}

func parse(def *agentv1.CheckDefinition, cfg Config) (*spec, error) {
	if def == nil {
		return nil, &DefinitionError{Problem: "no definition"}
	}
	s := &spec{id: CheckID(def), serviceID: def.ServiceId, status: def.Status}
	bad := func(field, format string, args ...any) error {
		return &DefinitionError{CheckID: s.id, Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	if s.id == "" {
		return nil, bad("name", "check_id or name must be set")
	}
	switch def.Status {
	case "", Passing, Warning, Critical:
	default:
		return nil, bad("status", "status must be passing, warning or critical (got %q)", def.Status)
	}

	kinds := kindsOf(def)
	switch len(kinds) {
	case 0:
		if def.Ttl != nil && def.Ttl.AsDuration() == 0 && def.Ttl.IsValid() {
			return nil, bad("ttl", "ttl must be positive for a TTL check")
		}
		return nil, bad("", "one of ttl, http, tcp, grpc or args must be set")
	case 1:
		s.kind = kinds[0]
	default:
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = kindField[k]
		}
		return nil, bad("", "only one of ttl, http, tcp, grpc or args may be set (got %s)", strings.Join(names, " and "))
	}

	var err error
	duration := func(field string, d *durationpb.Duration) time.Duration {
		if err != nil || d == nil {
			return 0
		}
		if e := d.CheckValid(); e != nil {
			err = bad(field, "%s is not a valid duration: %v", field, e)
			return 0
		}
		v := d.AsDuration()
		if v < 0 {
			err = bad(field, "%s must not be negative (got %s)", field, v)
		}
		return v
	}
	s.ttl = duration("ttl", def.Ttl)
	s.interval = duration("interval", def.Interval)
	s.timeout = duration("timeout", def.Timeout)
	s.criticalAfter = duration("deregister_critical_service_after", def.DeregisterCriticalServiceAfter)
	if err != nil {
		return nil, err
	}
	if def.SuccessBeforePassing < 0 {
		return nil, bad("success_before_passing", "success_before_passing must not be negative (got %d)", def.SuccessBeforePassing)
	}
	if def.FailuresBeforeCritical < 0 {
		return nil, bad("failures_before_critical", "failures_before_critical must not be negative (got %d)", def.FailuresBeforeCritical)
	}
	s.successBeforePassing = int(def.SuccessBeforePassing)
	s.failuresBeforeCritical = int(def.FailuresBeforeCritical)
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}

	if s.kind == KindTTL {
		if s.interval != 0 {
			// Consul: "Interval and TTL cannot both be specified".
			return nil, bad("interval", "interval cannot be set for a TTL check")
		}
		return s, nil
	}
	if s.interval == 0 {
		return nil, bad("interval", "interval must be set for %s check", s.kind.label())
	}

	switch s.kind {
	case KindHTTP:
		u, e := url.Parse(def.Http)
		if e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("http", "http must be an http:// or https:// URL (got %q)", def.Http)
		}
		if _, e := http.NewRequest(httpMethod(def), def.Http, nil); e != nil {
			return nil, bad("method", "method %q is not a valid HTTP method", def.Method)
		}
	case KindTCP:
		if _, _, e := net.SplitHostPort(def.Tcp); e != nil {
			return nil, bad("tcp", "tcp must be host:port (got %q)", def.Tcp)
		}
	case KindGRPC:
		server, _, _ := strings.Cut(def.Grpc, "/")
		if _, _, e := net.SplitHostPort(server); e != nil {
			return nil, bad("grpc", "grpc must be host:port or host:port/service (got %q)", def.Grpc)
		}
	case KindScript:
		if !cfg.EnableScriptChecks {
			return nil, &DefinitionError{CheckID: s.id, Field: "args", cause: ErrScriptChecksDisabled,
				Problem: "script checks are disabled on this agent; to enable, configure enable_script_checks"}
		}
		if def.Args[0] == "" {
			return nil, bad("args", "args must start with the command to run")
		}
	}
	return s, nil
}

func httpMethod(def *agentv1.CheckDefinition) string {
	if def.Method == "" {
		return http.MethodGet
	}
	return def.Method
}
