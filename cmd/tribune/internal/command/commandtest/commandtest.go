// Package commandtest holds what the CLI commands' tests share: running a
// command as main does and capturing its streams, comparing a run with
// what it should have done, and checking the behaviours every command
// that talks to an agent's HTTP API must have. Those behaviours are
// Consul's CLI's, so that they are the same for every command; the
// checks live here once so that a new command gets them all by
// describing only what differs: its arguments and its messages.
package commandtest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// Cmd is a command under test.
type Cmd struct {
	// New makes the command, as main does.
	New command.Factory
	// Family says the command is a family of subcommands (kv, catalog):
	// its first argument names the subcommand, whose flags follow it, so
	// -http-addr goes second.
	Family bool
}

// Run runs the command with args against the agent at addr, or with no
// -http-addr when addr is "", and returns its exit code and what it
// wrote to stdout and stderr. CONSUL_HTTP_ADDR and TRIBUNE_HTTP_ADDR are
// cleared for the rest of the test: a run must never reach an agent the
// developer happens to run.
func (c Cmd) Run(t *testing.T, addr string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return c.RunStdin(t, addr, "", args...)
}

// RunStdin is Run with stdin as the command's standard input.
func (c Cmd) RunStdin(t *testing.T, addr, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	setEnv(t, "", "")
	r := c.run(context.Background(), stdin, c.withAddr(addr, args))
	return r.code, r.out, r.err
}

// result is what a run ended with.
type result struct {
	code     int
	out, err string
}

// run runs the command with args under ctx, without touching the
// environment (t.Setenv may not be called from another goroutine).
func (c Cmd) run(ctx context.Context, stdin string, args []string) result {
	var out, errb bytes.Buffer
	code := c.New(command.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb}).Run(ctx, args)
	return result{code: code, out: out.String(), err: errb.String()}
}

// withAddr returns args with -http-addr=addr where the command parses
// its flags: first, or after a family's subcommand.
func (c Cmd) withAddr(addr string, args []string) []string {
	if addr == "" {
		return args
	}
	at := 0
	if c.Family {
		if len(args) == 0 {
			return args
		}
		at = 1
	}
	return slices.Insert(slices.Clone(args), at, "-http-addr="+addr)
}

// setEnv sets the variables the HTTP flags default from, for the rest of
// the test.
func setEnv(t *testing.T, consul, tribune string) {
	t.Helper()
	t.Setenv("CONSUL_HTTP_ADDR", consul)
	t.Setenv("TRIBUNE_HTTP_ADDR", tribune)
}

// Check reports how a run's exit code and streams differ from the wanted
// ones: stdout must be wantOut, and stderr wantErr, or only start with it
// when errPrefix (for usage texts, which are long).
func Check(t *testing.T, code int, out, errOut string, wantCode int, wantOut, wantErr string, errPrefix bool) {
	t.Helper()
	checkCodeOut(t, code, out, errOut, wantCode, wantOut)
	if errPrefix {
		if !strings.HasPrefix(errOut, wantErr) {
			t.Errorf("stderr = %q, want it to start with %q", errOut, wantErr)
		}
	} else if errOut != wantErr {
		t.Errorf("stderr = %q, want %q", errOut, wantErr)
	}
}

// CheckContains is Check for tables that give a part of stderr: stderr
// must contain wantErr, and be empty when wantErr is.
func CheckContains(t *testing.T, code int, out, errOut string, wantCode int, wantOut, wantErr string) {
	t.Helper()
	checkCodeOut(t, code, out, errOut, wantCode, wantOut)
	if wantErr == "" && errOut != "" {
		t.Errorf("stderr = %q, want it empty", errOut)
	}
	if !strings.Contains(errOut, wantErr) {
		t.Errorf("stderr = %q, want it to contain %q", errOut, wantErr)
	}
}

func checkCodeOut(t *testing.T, code int, out, errOut string, wantCode int, wantOut string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code = %d, want %d (stderr %q)", code, wantCode, errOut)
	}
	if out != wantOut {
		t.Errorf("stdout =\n%s\nwant\n%s", out, wantOut)
	}
}

// CheckRequests reports whether the requests a fake agent received differ
// from want; none and an empty list are alike, so that a table's rows
// need not say that they send nothing. The lists are printed as JSON,
// which shows bodies and queries more plainly than %+v.
func CheckRequests[R any](t *testing.T, got, want []R) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("requests:\n%s\nwant:\n%s", g, w)
	}
}

// HTTPClient describes a command that talks to an agent's HTTP API, for
// CheckHTTPClient: what its runs take and print.
type HTTPClient struct {
	Cmd
	// Args are the arguments of a run that sends the agent a request, and
	// succeeds against Agent.
	Args []string
	// Agent starts a fake agent for a run of Args and returns its URL and
	// a check of what the agent holds after the run (nil for none).
	Agent func(t *testing.T) (url string, check func(t *testing.T))
	// Out is what a run of Args writes to stdout.
	Out string
	// Help has, for each help to check (by the subcommand whose it is, ""
	// for the command's own), the flags it lists besides the HTTP flags,
	// each as flag.PrintDefaults writes its line, unindented: "-wan",
	// "-reason string". Nil checks the command's own help for the HTTP
	// flags alone.
	Help map[string][]string
	// Down are runs with the agent down and what they print.
	Down []Down
}

// Down is a run with the agent down and what it prints.
type Down struct {
	Args []string
	// Err returns the start of stderr when the agent at url is down:
	// the error says which request failed.
	Err func(url string) string
	// ErrEnd, when set, is the end of stderr, for commands that say more
	// after the error.
	ErrEnd string
}

// httpFlags are the lines of the flags every HTTP client has.
var httpFlags = []string{"-http-addr string", "-datacenter string", "-stale"}

// CheckHTTPClient checks the behaviours all the commands that talk to an
// agent's HTTP API share, as Consul's commands have them:
//
//   - the agent's address defaults from CONSUL_HTTP_ADDR, then
//     TRIBUNE_HTTP_ADDR;
//   - -h lists the HTTP flags with the command's own;
//   - with the agent down, the command exits 1 and says what failed;
//   - an address with a scheme other than http, https or unix gets
//     Consul's "Unknown protocol scheme" error;
//   - a canceled context ends a request the agent does not answer (some
//     of the API client's calls take no context).
func CheckHTTPClient(t *testing.T, c HTTPClient) {
	t.Helper()
	t.Run("HTTPAddrFromEnv", func(t *testing.T) { c.checkAddrFromEnv(t) })
	t.Run("HelpListsFlags", func(t *testing.T) { c.checkHelp(t) })
	t.Run("AgentDown", func(t *testing.T) { c.checkDown(t) })
	t.Run("BadAddress", func(t *testing.T) { c.checkBadAddress(t) })
	t.Run("Canceled", func(t *testing.T) { c.checkCanceled(t) })
}

// badAddr is an address no HTTP client accepts.
const badAddr = "ftp://127.0.0.1:8500"

func (c HTTPClient) checkAddrFromEnv(t *testing.T) {
	tests := []struct {
		name            string
		consul, tribune func(url string) string
	}{
		{name: "CONSUL_HTTP_ADDR", consul: same, tribune: none},
		{name: "TRIBUNE_HTTP_ADDR", consul: none, tribune: same},
		// TRIBUNE_HTTP_ADDR's bad address would fail the run.
		{name: "CONSUL_HTTP_ADDR first", consul: same, tribune: func(string) string { return badAddr }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, check := c.Agent(t)
			setEnv(t, tt.consul(url), tt.tribune(url))
			r := c.run(context.Background(), "", c.Args)
			Check(t, r.code, r.out, r.err, 0, c.Out, "", false)
			if check != nil {
				check(t)
			}
		})
	}
}

func same(url string) string { return url }
func none(string) string     { return "" }

func (c HTTPClient) checkHelp(t *testing.T) {
	help := c.Help
	if help == nil {
		help = map[string][]string{"": nil}
	}
	subs := slices.Sorted(maps.Keys(help))
	for _, sub := range subs {
		args := []string{"-h"}
		if sub != "" {
			args = []string{sub, "-h"}
		}
		code, out, errOut := c.Run(t, "", args...)
		if code != 0 || out != "" {
			t.Errorf("%v: exit code %d, stdout %q; want 0 and nothing", args, code, out)
		}
		lines := strings.Split(errOut, "\n")
		for _, fl := range append(slices.Clone(help[sub]), httpFlags...) {
			if !slices.Contains(lines, "  "+fl) {
				t.Errorf("%v does not list %q:\n%s", args, fl, errOut)
			}
		}
	}
}

func (c HTTPClient) checkDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	for _, d := range c.Down {
		code, out, errOut := c.Run(t, addr, d.Args...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, d.Err(addr)) || !strings.HasSuffix(errOut, d.ErrEnd) {
			t.Errorf("%q with the agent down: exit code %d, stdout %q, stderr %q; want 1, nothing, %q...%q",
				d.Args, code, out, errOut, d.Err(addr), d.ErrEnd)
		}
	}
}

func (c HTTPClient) checkBadAddress(t *testing.T) {
	code, out, errOut := c.Run(t, badAddr, c.Args...)
	Check(t, code, out, errOut, 1, "", "Error connecting to Consul agent: Unknown protocol scheme: ftp\n", false)
}

// checkCanceled runs the command against an agent that holds its request
// until the request ends, and expires the run's context once the agent
// has the request: no timer races the command.
func (c HTTPClient) checkCanceled(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	setEnv(t, "", "")
	ctx := newExpiring()
	done := make(chan result, 1)
	go func() { done <- c.run(ctx, "", c.withAddr(srv.URL, c.Args)) }()
	select {
	case <-arrived:
	case r := <-done:
		t.Fatalf("the command ended before the agent had its request: exit code %d, stderr %q", r.code, r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not get the command's request")
	}
	ctx.expire()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.err, "context deadline exceeded") {
			t.Errorf("exit code %d, stderr %q; want 1 and the context's error", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not end with its context")
	}
}

// expiring is a context whose deadline passes when the test says so: once
// the agent has the request, where a timer might fire before it is sent
// and so check nothing.
type expiring struct {
	context.Context
	done chan struct{}
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiring) expire()               { close(c.done) }
func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
