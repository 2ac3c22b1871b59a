package checks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// testConfig is DefaultConfig with the floors lowered so that tests can
// run checks every few milliseconds.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MinInterval = time.Millisecond
	cfg.MinDeregisterCriticalServiceAfter = 0
	return cfg
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for "+format, append([]any{d}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type event struct{ status, output string }

// recorder collects reports and critical notices, and fails the test if
// two reports for one check ever overlap.
type recorder struct {
	t        *testing.T
	mu       sync.Mutex
	events   map[string][]event
	critical map[string][]time.Time
	inReport sync.Map // check ID -> *atomic.Bool
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, events: map[string][]event{}, critical: map[string][]time.Time{}}
}

func (r *recorder) report(id, status, output string) {
	v, _ := r.inReport.LoadOrStore(id, new(atomic.Bool))
	busy := v.(*atomic.Bool)
	if !busy.CompareAndSwap(false, true) {
		r.t.Errorf("concurrent reports for check %q", id)
	}
	defer busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[id] = append(r.events[id], event{status, output})
}

func (r *recorder) onCritical(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.critical[id] = append(r.critical[id], time.Now())
}

func (r *recorder) get(id string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events[id]...)
}

func (r *recorder) last(id string) event {
	es := r.get(id)
	if len(es) == 0 {
		return event{}
	}
	return es[len(es)-1]
}

func (r *recorder) criticalCalls(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.critical[id]...)
}

func newRunner(t *testing.T, cfg Config, rec *recorder) *Runner {
	t.Helper()
	r, err := NewRunner(cfg, rec.report, rec.onCritical)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// codeServer answers every request with the status code it holds.
type codeServer struct {
	*httptest.Server
	code atomic.Int32
	hits atomic.Int64
}

func newCodeServer(t *testing.T, code int) *codeServer {
	s := &codeServer{}
	s.code.Store(int32(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		c := int(s.code.Load())
		w.WriteHeader(c)
		fmt.Fprint(w, http.StatusText(c))
	}))
	t.Cleanup(s.Close)
	return s
}

// selfSigned returns a certificate for 127.0.0.1 and localhost, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
