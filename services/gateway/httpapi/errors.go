package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// httpStatus maps gRPC codes to Consul's HTTP status codes. User mistakes
// are 4xx; anything else is a 500, which Consul's client retries.
var httpStatus = map[codes.Code]int{
	codes.OK:                 http.StatusOK,
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Unauthenticated:    http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusRequestEntityTooLarge,
	codes.Unimplemented:      http.StatusNotImplemented,
}

// HTTPStatus returns the HTTP status for a gRPC code.
func HTTPStatus(c codes.Code) int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorHandler writes an error as Consul does: a status code and the
// message as plain text.
func errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		writeError(w, he.HTTPStatus, status.Convert(he.Err).Message())
		return
	}
	s := status.Convert(err)
	if s.Code() == codes.Canceled && ctx.Err() != nil {
		return // the client has gone; nobody reads an answer
	}
	writeError(w, HTTPStatus(s.Code()), s.Message())
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	switch code {
	case http.StatusMethodNotAllowed:
		writeError(w, code, "method "+r.Method+" not allowed")
	case http.StatusNotFound:
		writeError(w, code, "Invalid URL path: not a recognized HTTP API endpoint")
	default:
		writeError(w, code, http.StatusText(code))
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
