package batch

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
