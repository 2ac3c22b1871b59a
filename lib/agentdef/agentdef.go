// Package agentdef reads Consul's service and check definitions into
// Tribune's agent messages (tribune.agent.v1): the JSON bodies of
// /v1/agent/service/register, /v1/agent/check/register and
// /v1/agent/check/update, and the definitions in configuration files
// ({"service": {...}}, {"services": [...]}, {"check": {...}},
// {"checks": [...]}).
//
// It reads what Consul reads: field names in any case and in snake_case
// ("DeregisterCriticalServiceAfter" or "deregister_critical_service_after"),
// durations as Go duration strings ("10s") or numbers of nanoseconds, and
// unknown fields ignored. It applies Consul's defaults (a service's ID is
// its name; a standalone check's ID is its name; a service's checks are
// "service:<id>", or "service:<id>:<n>" when it has several, named
// "Service '<name>' check", and belong to the service), and refuses what
// Consul refuses with Consul's messages where Consul has one.
//
// Beyond Consul, it refuses a check that says more than one of TTL, HTTP,
// TCP, GRPC and Args (Consul silently runs one of them), and the check
// kinds Tribune does not run (Docker, alias, H2PING, UDP, OSService).
//
// Every error wraps ErrInvalid; those that Consul reports as
// "Request decode failed: ..." (not JSON, a field of the wrong type, a bad
// duration) also wrap ErrMalformed.
package agentdef

import (
	"errors"
	"fmt"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

var (
	// ErrInvalid is a definition that cannot be used.
	ErrInvalid = errors.New("invalid agent definition")
	// ErrMalformed is a definition that cannot be read: not JSON, or a
	// field of the wrong type. It wraps ErrInvalid.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
)

// Error is a definition that cannot be used or read.
type Error struct {
	// File is the configuration file, empty for an HTTP body.
	File string
	// Where is the definition in the file ("services[1]"), if in a file.
	Where string
	// Msg is the problem, in Consul's words where Consul has them.
	Msg string
	// Malformed is set when the JSON could not be read at all (Consul's
	// "Request decode failed").
	Malformed bool
}

func (e *Error) Error() string {
	msg := e.Msg
	if e.Where != "" {
		msg = e.Where + ": " + msg
	}
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	return msg
}

// Is reports whether e is ErrInvalid or, when malformed, ErrMalformed.
func (e *Error) Is(target error) bool {
	return target == ErrInvalid || (e.Malformed && target == ErrMalformed)
}

func invalid(msg string) *Error { return &Error{Msg: msg} }

func invalidf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// malformed is an unreadable value at path (empty for the whole body).
func malformed(path string, err error) *Error {
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) {
		msg = e.Msg
	}
	if path != "" {
		msg = path + ": " + msg
	}
	return &Error{Msg: msg, Malformed: true}
}

// DecodeServiceRegistration reads the body of PUT
// /v1/agent/service/register (api.AgentServiceRegistration) and returns
// the service with Consul's defaults applied.
func DecodeServiceRegistration(data []byte) (*agentv1.ServiceDefinition, error) {
	o, err := parseObject("", data)
	if err != nil {
		return nil, err
	}
	return serviceFrom(o)
}

// DecodeCheckRegistration reads the body of PUT /v1/agent/check/register
// (api.AgentCheckRegistration) and returns the check with Consul's
// defaults applied.
func DecodeCheckRegistration(data []byte) (*agentv1.CheckDefinition, error) {
	o, err := parseObject("", data)
	if err != nil {
		return nil, err
	}
	return standaloneCheckFrom(o)
}

// DecodeCheckUpdate reads the body of PUT /v1/agent/check/update/:id,
// {"Status": "passing|warning|critical", "Output": "..."}. The check ID,
// which is in the path, is left empty. Output is not truncated here: the
// agent applies its output limit to every update, this one and
// pass/warn/fail's notes alike.
func DecodeCheckUpdate(data []byte) (*agentv1.UpdateCheckRequest, error) {
	o, err := parseObject("", data)
	if err != nil {
		return nil, err
	}
	st, err := o.string("Status")
	if err != nil {
		return nil, err
	}
	out, err := o.string("Output")
	if err != nil {
		return nil, err
	}
	if !validUpdateStatus(st) {
		return nil, invalidf("Invalid check status: '%s'", st)
	}
	return &agentv1.UpdateCheckRequest{Status: st, Output: out}, nil
}

// Status values a check may be registered or updated with.
const (
	StatusPassing  = "passing"
	StatusWarning  = "warning"
	StatusCritical = "critical"
)

func validUpdateStatus(s string) bool {
	return s == StatusPassing || s == StatusWarning || s == StatusCritical
}
