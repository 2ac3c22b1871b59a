package batch

// What a service that receives batches of writes needs: the split of a
// batch into the commands it proposes, and each refused write's error.

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/tribune/tribune/sdk/go/tribune/query/v1"
)

// WriteError encodes err, the gRPC status one write of a batch failed with
// on its own, for the batch's response.
func WriteError(err error) *queryv1.WriteError {
	st := status.Convert(err)
	return &queryv1.WriteError{Code: uint32(st.Code()), Message: st.Message()}
}

// StatusError decodes a WriteError into the gRPC status error it encodes.
func StatusError(e *queryv1.WriteError) error {
	return status.Error(codes.Code(e.GetCode()), e.GetMessage())
}

// Split turns the ops of a batch call into the commands to propose, with
// the position of each command's op in ops. An op that command refuses is
// left out, and refuse gets its position and error.
func Split[Op, Cmd any](ops []Op, command func(Op) (Cmd, error), refuse func(i int, err error)) (cmds []Cmd, at []int) {
	cmds, at = make([]Cmd, 0, len(ops)), make([]int, 0, len(ops))
	for i, op := range ops {
		cmd, err := command(op)
		if err != nil {
			refuse(i, err)
			continue
		}
		cmds = append(cmds, cmd)
		at = append(at, i)
	}
	return cmds, at
}
