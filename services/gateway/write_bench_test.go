package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"

	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	regbatchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway/httpapi"
	"github.com/tribune/tribune/services/gateway/router"
)

// instantKV and instantRegistry accept every batched write at once.
type instantKV struct {
	batchv1.UnimplementedBatchServiceServer
}

func (instantKV) Write(_ context.Context, req *batchv1.WriteRequest) (*batchv1.WriteResponse, error) {
	resp := &batchv1.WriteResponse{Results: make([]*batchv1.Result, len(req.Ops))}
	for i := range req.Ops {
		resp.Results[i] = &batchv1.Result{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: true, Index: 1}}}
	}
	return resp, nil
}

type instantRegistry struct {
	regbatchv1.UnimplementedBatchServiceServer
}

func (instantRegistry) Write(_ context.Context, req *regbatchv1.WriteRequest) (*regbatchv1.WriteResponse, error) {
	resp := &regbatchv1.WriteResponse{Results: make([]*regbatchv1.Result, len(req.Ops))}
	for i, op := range req.Ops {
		if op.GetRegister() != nil {
			resp.Results[i] = &regbatchv1.Result{Result: &regbatchv1.Result_Register{Register: &registryv1.RegisterResponse{Index: 1}}}
		} else {
			resp.Results[i] = &regbatchv1.Result{Result: &regbatchv1.Result_Deregister{Deregister: &registryv1.DeregisterResponse{Index: 1}}}
		}
	}
	return resp, nil
}

// BenchmarkHTTPWrite is the gateway's own cost of one HTTP write, against
// kv and registry services that answer at once over an in-memory
// connection: a KV put of 256 B against the catalog registration and
// deregistration that `tribune bench catalog -target http -op churn`
// sends.
//
//	go test -run NONE -bench HTTPWrite -benchmem ./services/gateway
func BenchmarkHTTPWrite(b *testing.B) {
	conn := serveInMemory(b, func(gs *grpc.Server) {
		batchv1.RegisterBatchServiceServer(gs, instantKV{})
		regbatchv1.RegisterBatchServiceServer(gs, instantRegistry{})
	})
	rt, err := router.New("dc1", conn, router.WithRegistry(conn))
	if err != nil {
		b.Fatal(err)
	}
	h, err := httpapi.New(context.Background(), httpapi.Config{MaxValueSize: 512 << 10, Datacenter: "dc1"},
		httpapi.Services{KV: rt, Status: rt, Registry: rt.Registry(), Agent: rt.Agent()})
	if err != nil {
		b.Fatal(err)
	}
	value := strings.Repeat("v", 256)
	for _, tc := range []struct{ name, path, body string }{
		{"kv-put", "/v1/kv/bench/0042", value},
		{"catalog-register", "/v1/catalog/register", `{"Node":"bench-node-07","Address":"127.0.0.1","Service":{"ID":"bench-svc-123-c5","Service":"bench-svc-123","Port":20005},"Check":{"CheckID":"service:bench-svc-123-c5","Name":"Service 'bench-svc-123' check","Status":"passing","ServiceID":"bench-svc-123-c5"}}`},
		{"catalog-deregister", "/v1/catalog/deregister", `{"Node":"bench-node-07","ServiceID":"bench-svc-123-c5"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			// Many writers at once, as under load: their writes share
			// batches, and ns/op is the CPU of all cores per write.
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPut, tc.path, strings.NewReader(tc.body))
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "true" {
						b.Errorf("%s: %d %s", tc.path, w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}
