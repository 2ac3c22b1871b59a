package kv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
)

func u64(v uint64) *uint64 { return &v }

func putOp(key, value string, cas *uint64) *batchv1.Op {
	return &batchv1.Op{Op: &batchv1.Op_Put{Put: &kvv1.PutRequest{Key: key, Value: []byte(value), Cas: cas}}}
}

func deleteOp(req *kvv1.DeleteRequest) *batchv1.Op {
	return &batchv1.Op{Op: &batchv1.Op_Delete{Delete: req}}
}

// TestBatchWrite sends one batch whose ops succeed, fail a check-and-set
// and are refused as bad input, and checks that each gets its own outcome,
// that the writes made share one Raft entry, and that only they were made.
func TestBatchWrite(t *testing.T) {
	c := newCluster(t, 1, nil)
	srv := c.nodes[0].srv
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Put(ctx, &kvv1.PutRequest{Key: "gone", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	ops := []*batchv1.Op{
		putOp("a", "1", nil),
		putOp("", "no key", nil),
		putOp("big", strings.Repeat("x", 512<<10+1), nil),
		putOp("b", "1", u64(0)),
		putOp("b", "2", u64(0)), // refused: the op before created b
		deleteOp(&kvv1.DeleteRequest{Key: "gone"}),
		deleteOp(&kvv1.DeleteRequest{Key: "x/", Recurse: true, Cas: u64(1)}),
	}
	resp, err := srv.Write(ctx, &batchv1.WriteRequest{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.GetResults()
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	index := res[0].GetPut().GetIndex()
	if index == 0 {
		t.Fatalf("first put: %v, want made", res[0])
	}
	want := []*batchv1.Result{
		{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: true, Index: index}}},
		{Result: &batchv1.Result_Error{Error: errorOf(codes.InvalidArgument, "Missing key name")}},
		{Result: &batchv1.Result_Error{Error: errorOf(codes.ResourceExhausted,
			"Request body(524289 bytes) too large, max size: 524288 bytes")}},
		{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: true, Index: index}}},
		{Result: &batchv1.Result_Put{Put: &kvv1.PutResponse{Ok: false}}},
		{Result: &batchv1.Result_Delete{Delete: &kvv1.DeleteResponse{Ok: true, Index: index}}},
		{Result: &batchv1.Result_Error{Error: errorOf(codes.InvalidArgument, "Conflicting flags: cas and recurse")}},
	}
	for i := range want {
		if !proto.Equal(res[i], want[i]) {
			t.Errorf("op %d: got %v, want %v", i, res[i], want[i])
		}
	}

	got, err := srv.Get(ctx, &kvv1.GetRequest{Key: "", Recurse: true})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]*kvv1.KVPair{}
	for _, p := range got.Pairs {
		if !strings.HasPrefix(p.Key, "warmup/") {
			stored[p.Key] = p
		}
	}
	if len(stored) != 2 || string(stored["a"].GetValue()) != "1" || string(stored["b"].GetValue()) != "1" {
		t.Fatalf("store holds %v, want only a=1 and b=1", stored)
	}
	for _, p := range stored {
		if p.ModifyIndex != index {
			t.Errorf("%s: ModifyIndex %d, want the batch's index %d", p.Key, p.ModifyIndex, index)
		}
	}
}

func errorOf(code codes.Code, msg string) *queryv1.WriteError {
	return &queryv1.WriteError{Code: uint32(code), Message: msg}
}
