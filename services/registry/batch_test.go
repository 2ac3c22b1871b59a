package registry_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	batchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/registry/registrytest"
)

func registerOp(node, addr string, svc *registryv1.Service, checks ...*registryv1.Check) *batchv1.Op {
	return &batchv1.Op{Op: &batchv1.Op_Register{Register: &registryv1.RegisterRequest{
		Node: &registryv1.Node{Node: node, Address: addr}, Service: svc, Checks: checks,
	}}}
}

func deregisterOp(node, serviceID string) *batchv1.Op {
	return &batchv1.Op{Op: &batchv1.Op_Deregister{Deregister: &registryv1.DeregisterRequest{Node: node, ServiceId: serviceID}}}
}

// TestBatchWrite sends one batch of catalog writes, some refused as bad
// input or by the store, and checks that each gets its own outcome, that
// the writes made share one Raft entry and that only they were made.
func TestBatchWrite(t *testing.T) {
	r := registrytest.Start(t, "self")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.Client.Register(ctx, &registryv1.RegisterRequest{
		Node: &registryv1.Node{Node: "old", Address: "10.0.0.9"}, Service: &registryv1.Service{Service: "web"},
	}); err != nil {
		t.Fatal(err)
	}

	ops := []*batchv1.Op{
		registerOp("n1", "10.0.0.1", &registryv1.Service{Service: "web", Port: 80}),
		registerOp("n2", "", &registryv1.Service{Service: "web"}),
		registerOp("n3", "10.0.0.3", &registryv1.Service{Service: "web"},
			&registryv1.Check{Name: "c", ServiceId: "nope"}),
		deregisterOp("", ""),
		deregisterOp("old", "web"),
	}
	resp, err := r.Batch.Write(ctx, &batchv1.WriteRequest{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.GetResults()
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	index := res[0].GetRegister().GetIndex()
	if index == 0 {
		t.Fatalf("first registration: %v, want made", res[0])
	}
	if got := res[4].GetDeregister().GetIndex(); got != index {
		t.Errorf("deregistration index %d, want the batch's %d", got, index)
	}
	refused := map[int]codes.Code{1: codes.InvalidArgument, 2: codes.FailedPrecondition, 3: codes.InvalidArgument}
	for i, code := range refused {
		if e := res[i].GetError(); e == nil || codes.Code(e.Code) != code || e.Message == "" {
			t.Errorf("op %d: %v, want a %v error", i, res[i], code)
		}
	}

	web, err := r.Client.ServiceNodes(ctx, &registryv1.ServiceNodesRequest{Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(web.Instances) != 1 || web.Instances[0].GetNode().GetNode() != "n1" {
		t.Fatalf("web instances %v, want only n1's", web.Instances)
	}
	if got := web.Instances[0].GetService().GetModifyIndex(); got != index {
		t.Errorf("n1's web ModifyIndex %d, want the batch's %d", got, index)
	}
}
