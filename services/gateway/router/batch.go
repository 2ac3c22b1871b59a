package router

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/rpc"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
	regbatchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
)

// A server's gateway sends the writes of its own datacenter to the kv and
// registry services of the same server in batches (lib/batch): under load,
// many clients' writes cost one call and one Raft entry instead of one
// each. A write alone is sent at once, so an idle server adds no latency.

// batchWriteTimeout bounds a batch's call to a service. A replica gives a
// proposal the caller's deadline, or its own Timeout when the caller set
// none, so this is that default: a batch's writes wait no longer for a
// leader that died than a write sent alone with no deadline would. (With
// a longer deadline here, every batch in flight to a killed leader held
// its slot that much longer, and no write got through meanwhile.)
const batchWriteTimeout = rpc.ProposalTimeout

// newWrites returns a Batcher that sends ops with call, a service's batch
// Write, and gives each op the error errOf finds in its result.
func newWrites[Op, Res any](cfg batch.Config, call func(context.Context, []Op) ([]Res, error),
	errOf func(Res) *queryv1.WriteError, size func(Op) int) (*batch.Batcher[Op, Res], error) {
	send := func(ctx context.Context, ops []Op) ([]batch.Result[Res], error) {
		ctx, cancel := context.WithTimeout(ctx, batchWriteTimeout)
		defer cancel()
		results, err := call(ctx, ops)
		if err != nil {
			return nil, err
		}
		out := make([]batch.Result[Res], len(results))
		for i, res := range results {
			if e := errOf(res); e != nil {
				out[i].Err = batch.StatusError(e)
				continue
			}
			out[i].Resp = res
		}
		return out, nil
	}
	return batch.New(cfg, send, size)
}

// write sends op in the next batch of b and returns its result, with the
// gRPC status a caller of the service itself would get.
func write[Op, Res any](ctx context.Context, b *batch.Batcher[Op, Res], op Op) (Res, error) {
	res, err := b.Do(ctx, op)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, batch.ErrClosed):
		err = status.Error(codes.Unavailable, "gateway is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		err = status.FromContextError(err).Err()
	}
	return res, err
}

// kvOpSize weighs a KV write for the batch's byte bound: its key and
// value, which are nearly all of it.
func kvOpSize(op *batchv1.Op) int {
	if p := op.GetPut(); p != nil {
		return len(p.Key) + len(p.Value) + 32
	}
	return len(op.GetDelete().GetKey()) + 32
}

// registryOpSize weighs a catalog write.
func registryOpSize(op *regbatchv1.Op) int { return proto.Size(op) }
