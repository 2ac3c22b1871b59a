package httpapi

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	"github.com/tribune/tribune/services/gateway/consul"
)

// rawBody is a response written as it is (?raw).
type rawBody []byte

// emptyBody is a response with no body (Consul's 404 for a missing key).
type emptyBody struct{}

// marshaler writes the Consul-shaped values that rewriteResponse makes
// with encoding/json, and reads request bodies: raw bytes for a KV value,
// Consul's catalog registration shapes for the registry's writes, Consul's
// service and check definitions for the agent's (lib/agentdef), JSON
// otherwise.
type marshaler struct {
	maxValueSize int
}

var _ runtime.Marshaler = (*marshaler)(nil)

func (m *marshaler) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case rawBody:
		return b, nil
	case emptyBody:
		return nil, nil
	case proto.Message:
		// A response without a Consul shape: protojson, with proto names.
		return protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	}
	return json.Marshal(v)
}

func (m *marshaler) Unmarshal(data []byte, v any) error {
	if p, ok := v.(proto.Message); ok {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, p)
	}
	return json.Unmarshal(data, v)
}

func (m *marshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		if b, ok := v.(*[]byte); ok {
			// A KV value: read at most one byte past the limit, so that an
			// oversized body of unknown length is refused by the KV
			// service's size check without being read whole.
			data, err := io.ReadAll(io.LimitReader(r, int64(m.maxValueSize)+1))
			if err != nil {
				return fmt.Errorf("reading body: %w", err)
			}
			if len(data) > 0 {
				*b = data
			}
			return nil
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
		switch req := v.(type) {
		case *registryv1.RegisterRequest:
			return decodeCatalog(data, req, consul.DecodeRegistrationInto)
		case *registryv1.DeregisterRequest:
			return decodeCatalog(data, req, consul.DecodeDeregistrationInto)
		}
		if ok, err := decodeAgentBody(data, v); ok {
			return err
		}
		if len(data) == 0 {
			return io.EOF
		}
		return m.Unmarshal(data, v)
	})
}

// decodeCatalog reads a catalog write's body in Consul's shape into dst.
// Its errors are Consul's 400 texts; an empty body is one (Consul's
// decoder fails with EOF), not a request with nothing in it.
func decodeCatalog[M proto.Message](data []byte, dst M, decodeInto func([]byte, M) error) error {
	if len(data) == 0 {
		return fmt.Errorf("Request decode failed: %v", io.EOF)
	}
	if err := decodeInto(data, dst); err != nil {
		return fmt.Errorf("Request decode failed: %v", err)
	}
	return nil
}

func (m *marshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

func (m *marshaler) ContentType(any) string { return "application/json" }
