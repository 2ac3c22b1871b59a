package replica

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Status translates an error of this package, or of a context, into a gRPC
// status: the one table from replica failures to codes. Errors that already
// carry a status pass through; anything else is Internal (a bug).
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, ErrNoLeader):
		return status.Error(codes.Unavailable, ErrNoLeader.Error())
	case errors.Is(err, ErrNotMember):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrLastVoter):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrBusy), errors.Is(err, ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
