package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func mustProbe(t *testing.T, def *agentv1.CheckDefinition, cfg Config) Probe {
	t.Helper()
	p, err := NewProbe(def, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTPProbe(t *testing.T) {
	seen := make(chan *http.Request, 1)
	var seenBody string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 10000)) })
	mux.HandleFunc("/accent", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("x", 4095)+"é!") })
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a\xff\xfeb")) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		seen <- r
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	def := func(path string) *agentv1.CheckDefinition {
		return &agentv1.CheckDefinition{Name: "web", Http: srv.URL + path, Interval: dur(time.Second)}
	}
	tests := []struct {
		name       string
		def        *agentv1.CheckDefinition
		wantStatus string
		wantOutput string // exact unless wantPrefix
		wantPrefix bool
	}{
		{"200", def("/ok"), Passing, "HTTP GET " + srv.URL + "/ok: 200 OK Output: ok", false},
		{"201", def("/created"), Passing, "HTTP GET " + srv.URL + "/created: 201 Created Output: ", false},
		{"redirect followed", def("/moved"), Passing, "HTTP GET " + srv.URL + "/moved: 200 OK Output: ok", false},
		{"503", def("/down"), Critical, "HTTP GET " + srv.URL + "/down: 503 Service Unavailable Output: down\n", false},
		{"429", def("/busy"), Warning, "HTTP GET " + srv.URL + "/busy: 429 Too Many Requests Output: ", false},
		{"404", def("/nothing"), Critical, "HTTP GET " + srv.URL + "/nothing: 404 Not Found Output: 404 page not found\n", false},
		{"body cut to 4 KiB", def("/big"), Passing, "HTTP GET " + srv.URL + "/big: 200 OK Output: " + strings.Repeat("x", 4096), false},
		{"cut between characters", def("/accent"), Passing, "HTTP GET " + srv.URL + "/accent: 200 OK Output: " + strings.Repeat("x", 4095), false},
		{"invalid UTF-8", def("/binary"), Passing, "HTTP GET " + srv.URL + "/binary: 200 OK Output: a\uFFFDb", false},
		{"timeout", &agentv1.CheckDefinition{Name: "web", Http: srv.URL + "/slow", Interval: dur(time.Second), Timeout: dur(100 * time.Millisecond)},
			Critical, `Get "` + srv.URL + `/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, false},
		{"refused", &agentv1.CheckDefinition{Name: "web", Http: "http://127.0.0.1:1/", Interval: dur(time.Second)},
			Critical, `Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused`, false},
		{"tls skip verify", &agentv1.CheckDefinition{Name: "web", Http: tlsSrv.URL + "/ok", Interval: dur(time.Second), TlsSkipVerify: true},
			Passing, "HTTP GET " + tlsSrv.URL + "/ok: 200 OK Output: ok", false},
		{"tls unverified", &agentv1.CheckDefinition{Name: "web", Http: tlsSrv.URL + "/ok", Interval: dur(time.Second)},
			Critical, `Get "` + tlsSrv.URL + `/ok": tls: failed to verify certificate`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, output := mustProbe(t, tt.def, DefaultConfig()).Check(context.Background())
			if status != tt.wantStatus {
				t.Errorf("status = %q, want %q (output %q)", status, tt.wantStatus, output)
			}
			if tt.wantPrefix && !strings.HasPrefix(output, tt.wantOutput) || !tt.wantPrefix && output != tt.wantOutput {
				t.Errorf("output = %q\nwant     %q", output, tt.wantOutput)
			}
		})
	}

	t.Run("method headers body", func(t *testing.T) {
		p := mustProbe(t, &agentv1.CheckDefinition{Name: "web", Http: srv.URL + "/echo", Interval: dur(time.Second),
			Method: "PUT", Body: `{"probe":true}`,
			Header: map[string]*registryv1.HeaderValues{
				"x-token": {Values: []string{"a", "b"}},
				"Host":    {Values: []string{"web.example"}},
			}}, DefaultConfig())
		status, output := p.Check(context.Background())
		r := <-seen
		if status != Passing || !strings.HasPrefix(output, "HTTP PUT ") {
			t.Errorf("Check() = %q, %q", status, output)
		}
		if r.Method != "PUT" || seenBody != `{"probe":true}` || r.Host != "web.example" {
			t.Errorf("server saw %s %q host %q", r.Method, seenBody, r.Host)
		}
		if got := r.Header.Values("X-Token"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("X-Token = %q", got)
		}
		if got := r.Header.Get("User-Agent"); got != UserAgent {
			t.Errorf("User-Agent = %q", got)
		}
	})

	t.Run("tls with configured roots", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.TLS = &tls.Config{RootCAs: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		status, output := mustProbe(t, &agentv1.CheckDefinition{Name: "web", Http: tlsSrv.URL + "/ok", Interval: dur(time.Second)}, cfg).
			Check(context.Background())
		if status != Passing {
			t.Errorf("Check() = %q, %q", status, output)
		}
	})
}

func TestTCPProbe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	p := mustProbe(t, &agentv1.CheckDefinition{Name: "db", Tcp: addr, Interval: dur(time.Second)}, DefaultConfig())
	if status, output := p.Check(context.Background()); status != Passing || output != "TCP connect "+addr+": Success" {
		t.Errorf("open: Check() = %q, %q", status, output)
	}
	lis.Close()
	if status, output := p.Check(context.Background()); status != Critical || output != "dial tcp "+addr+": connect: connection refused" {
		t.Errorf("closed: Check() = %q, %q", status, output)
	}
}

// grpcServer serves the standard health service, over TLS when cert is
// given.
func grpcServer(t *testing.T, cert *tls.Certificate) (string, *health.Server, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String(), hs, s
}

func TestGRPCProbe(t *testing.T) {
	addr, hs, _ := grpcServer(t, nil)
	hs.SetServingStatus("api.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus("api.Users", healthpb.HealthCheckResponse_SERVING)
	cert, pool := selfSigned(t)
	tlsAddr, _, _ := grpcServer(t, &cert)
	stopped, _, s := grpcServer(t, nil)
	s.Stop()
	trusting := DefaultConfig()
	trusting.TLS = &tls.Config{RootCAs: pool}

	tests := []struct {
		name       string
		def        *agentv1.CheckDefinition
		cfg        Config
		wantStatus string
		wantOutput string
		prefix     bool
	}{
		{"server serving", &agentv1.CheckDefinition{Grpc: addr}, DefaultConfig(), Passing, "gRPC check " + addr + ": success", false},
		{"service serving", &agentv1.CheckDefinition{Grpc: addr + "/api.Users"}, DefaultConfig(), Passing, "gRPC check " + addr + "/api.Users: success", false},
		{"service not serving", &agentv1.CheckDefinition{Grpc: addr + "/api.Orders"}, DefaultConfig(), Critical,
			"gRPC " + addr + "/api.Orders serving status: NOT_SERVING", false},
		{"unknown service", &agentv1.CheckDefinition{Grpc: addr + "/api.Nope"}, DefaultConfig(), Critical,
			"rpc error: code = NotFound desc = unknown service", false},
		{"server down", &agentv1.CheckDefinition{Grpc: stopped}, DefaultConfig(), Critical, "rpc error: code = Unavailable", true},
		{"tls skip verify", &agentv1.CheckDefinition{Grpc: tlsAddr, GrpcUseTls: true, TlsSkipVerify: true}, DefaultConfig(), Passing,
			"gRPC check " + tlsAddr + ": success", false},
		{"tls trusted root", &agentv1.CheckDefinition{Grpc: tlsAddr, GrpcUseTls: true}, trusting, Passing, "gRPC check " + tlsAddr + ": success", false},
		{"tls unverified", &agentv1.CheckDefinition{Grpc: tlsAddr, GrpcUseTls: true}, DefaultConfig(), Critical, "rpc error: code = Unavailable", true},
		{"plaintext to tls", &agentv1.CheckDefinition{Grpc: tlsAddr}, DefaultConfig(), Critical, "rpc error: code = Unavailable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.def.Name, tt.def.Interval, tt.def.Timeout = "g", dur(time.Second), dur(5*time.Second)
			status, output := mustProbe(t, tt.def, tt.cfg).Check(context.Background())
			if status != tt.wantStatus {
				t.Errorf("status = %q, want %q (output %q)", status, tt.wantStatus, output)
			}
			if tt.prefix && !strings.HasPrefix(output, tt.wantOutput) || !tt.prefix && output != tt.wantOutput {
				t.Errorf("output = %q\nwant     %q", output, tt.wantOutput)
			}
		})
	}
}

func TestScriptProbe(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EnableScriptChecks = true
	sh := func(script string) []string { return []string{"/bin/sh", "-c", script} }
	tests := []struct {
		name       string
		args       []string
		timeout    time.Duration
		wantStatus string
		wantOutput string
	}{
		{"exit 0", sh("echo out; echo err >&2"), 0, Passing, "out\nerr\n"},
		{"exit 1", sh("echo degraded; exit 1"), 0, Warning, "degraded\n"},
		{"exit 2", sh("echo broken; exit 2"), 0, Critical, "broken\n"},
		{"killed", sh("kill -9 $$"), 0, Critical, ""},
		{"output cut to its last 4 KiB", sh("i=0; while [ $i -lt 100 ]; do printf '%049d\n' $i; i=$((i+1)); done; printf END"), 0, Passing,
			fmt.Sprintf("Captured 4096 of 5003 bytes\n...\n%s", tail(5003, 4096))},
		{"timeout", sh("echo started; sleep 30"), 200 * time.Millisecond, Critical, "Timed out (200ms) running check\n\nstarted\n"},
		{"no such command", []string{"/nonexistent/check"}, 0, Critical, "fork/exec /nonexistent/check: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := &agentv1.CheckDefinition{Name: "s", Args: tt.args, Interval: dur(time.Second)}
			if tt.timeout > 0 {
				def.Timeout = dur(tt.timeout)
			}
			start := time.Now()
			status, output := mustProbe(t, def, cfg).Check(context.Background())
			if status != tt.wantStatus || output != tt.wantOutput {
				t.Errorf("Check() = %q, %q\nwant      %q, %q", status, output, tt.wantStatus, tt.wantOutput)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Check took %s", d)
			}
		})
	}
}

// tail is the last n bytes of the output of the "cut" script above.
func tail(total, n int) string {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "%049d\n", i)
	}
	b.WriteString("END")
	s := b.String()
	if len(s) != total {
		panic(len(s))
	}
	return s[len(s)-n:]
}

func TestUTF8Cuts(t *testing.T) {
	const e = "é" // 2 bytes
	if got := head("ab"+e+"c", 3); got != "ab" {
		t.Errorf("head = %q", got)
	}
	if got := head("ab"+e+"c", 4); got != "ab"+e {
		t.Errorf("head = %q", got)
	}
	if got := string(dropPartialLast([]byte("ab" + e[:1]))); got != "ab" {
		t.Errorf("dropPartialLast = %q", got)
	}
	if got := string(dropPartialLast([]byte("ab" + e))); got != "ab"+e {
		t.Errorf("dropPartialLast = %q", got)
	}
	if got := string(dropPartialFirst([]byte(e[1:] + "ab"))); got != "ab" {
		t.Errorf("dropPartialFirst = %q", got)
	}
	b := &tailBuffer{max: 4}
	b.Write([]byte("x" + e + "abc")) // keeps e's second byte and abc
	if got := b.String(); got != "Captured 3 of 6 bytes\n...\nabc" {
		t.Errorf("String() = %q", got)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 4}
	for _, w := range []string{"ab", "cd", "e", "fghij", "k"} {
		b.Write([]byte(w))
	}
	if got := b.String(); got != "Captured 4 of 11 bytes\n...\nhijk" {
		t.Errorf("String() = %q", got)
	}
	b = &tailBuffer{max: 4}
	b.Write([]byte("abc"))
	if got := b.String(); got != "abc" {
		t.Errorf("String() = %q", got)
	}
}
