package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tribune/tribune/lib/rpc"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

func TestMedianInterval(t *testing.T) {
	tests := []struct {
		name          string
		x             []float64
		med, lo, hi   float64
		wantDifferent bool // lo < med < hi
	}{
		{name: "none", x: nil},
		{name: "one", x: []float64{0.9}, med: 0.9, lo: 0.9, hi: 0.9},
		{name: "all equal", x: []float64{1, 1, 1, 1}, med: 1, lo: 1, hi: 1},
		{name: "spread", x: []float64{0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 0.95, 1.05, 0.85, 1.15}, med: 1.0, wantDifferent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			med, lo, hi := medianInterval(tt.x, compareResamples)
			if med != tt.med {
				t.Errorf("median %v, want %v", med, tt.med)
			}
			if tt.wantDifferent {
				if !(lo < med && med < hi) || lo < 0.7 || hi > 1.3 {
					t.Errorf("interval %v – %v around %v", lo, hi, med)
				}
				// The same runs give the same interval.
				if _, lo2, hi2 := medianInterval(tt.x, compareResamples); lo2 != lo || hi2 != hi {
					t.Errorf("second interval %v – %v, first %v – %v", lo2, hi2, lo, hi)
				}
				return
			}
			if lo != tt.lo || hi != tt.hi {
				t.Errorf("interval %v – %v, want %v – %v", lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

// startKVAndCatalog serves the fake catalog, and the fake KV store when
// kv is not nil, on one address, as an agent does.
func startKVAndCatalog(t *testing.T, target string, kv *fakeKV, cat *fakeCatalog) string {
	t.Helper()
	if target == "http" {
		mux := http.NewServeMux()
		if kv != nil {
			mux.Handle("/v1/kv/", kv)
		}
		mux.Handle("/", cat)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := rpc.NewServer()
	if kv != nil {
		kvv1.RegisterKVServiceServer(s, kv)
	}
	registryv1.RegisterRegistryServiceServer(s, cat)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func TestCatalogCompareKV(t *testing.T) {
	for _, target := range []string{"http", "grpc"} {
		t.Run(target, func(t *testing.T) {
			kv, cat := newFakeKV(), newFakeCatalog()
			addr := startKVAndCatalog(t, target, kv, cat)
			code, out, errOut := cli.Run(t, "", "catalog", "-json", "-target="+target, "-addr="+addr,
				"-compare-kv=2", "-duration=50ms", "-clients=4", "-services=20", "-nodes=5")
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got compareJSONResult
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q is not one JSON object: %v", out, err)
			}
			if got.Rounds != 2 || got.Pairs != 4 || len(got.Ratios) != 4 || got.Errors != 0 || got.Clients != 4 {
				t.Errorf("result %+v, want 2 rounds, 4 pairs, no errors", got)
			}
			if got.KVMedian <= 0 || got.ChurnMedian <= 0 || got.RatioMedian <= 0 ||
				got.RatioLow > got.RatioMedian || got.RatioHigh < got.RatioMedian {
				t.Errorf("rates and ratio %+v", got)
			}
			kv.mu.Lock()
			defer kv.mu.Unlock()
			cat.mu.Lock()
			defer cat.mu.Unlock()
			if kv.puts == 0 || cat.registers == 0 || cat.deregisters == 0 || cat.badChecks != 0 {
				t.Errorf("the fakes saw %d puts, %d registrations, %d deregistrations, %d bad checks",
					kv.puts, cat.registers, cat.deregisters, cat.badChecks)
			}
			for key, v := range kv.data {
				if !strings.HasPrefix(key, compareKeyPrefix) || len(v) != compareValueSize {
					t.Fatalf("KV put %q of %d bytes, want %s... of %d", key, len(v), compareKeyPrefix, compareValueSize)
				}
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		addr := startKVAndCatalog(t, "http", newFakeKV(), newFakeCatalog())
		code, out, errOut := cli.Run(t, "", "catalog", "-target=http", "-addr="+addr,
			"-compare-kv=1", "-duration=30ms", "-clients=2", "-services=5", "-nodes=2")
		if code != 0 || !strings.Contains(out, "churn / KV, median of 2 adjacent pairs:") ||
			!strings.Contains(out, "1 rounds of KV, churn, churn, KV, 30ms each") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
