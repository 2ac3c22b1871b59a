// Package router is the gateway's implementation of Tribune's public gRPC
// services: it checks the datacenter a call names and forwards the call to
// the service that owns the data. Both the public gRPC port and the HTTP
// API (through grpc-gateway) call it.
package router

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"
)

// ErrNoPathToDatacenter is Consul's answer for a datacenter it cannot reach.
var ErrNoPathToDatacenter = status.Error(codes.Unavailable, "No path to datacenter")

// Router forwards calls to the local services.
type Router struct {
	kvv1.UnimplementedKVServiceServer
	statusv1.UnimplementedStatusServiceServer

	datacenter string
	kv         kvv1.KVServiceClient
	status     statusv1.StatusServiceClient
}

var (
	_ kvv1.KVServiceServer         = (*Router)(nil)
	_ statusv1.StatusServiceServer = (*Router)(nil)
)

// New returns a Router for datacenter that forwards KV and status calls
// over kvConn, the kv service's connection.
func New(datacenter string, kvConn grpc.ClientConnInterface) (*Router, error) {
	if datacenter == "" {
		return nil, errors.New("router: datacenter is required")
	}
	if kvConn == nil {
		return nil, errors.New("router: kv connection is required")
	}
	return &Router{
		datacenter: datacenter,
		kv:         kvv1.NewKVServiceClient(kvConn),
		status:     statusv1.NewStatusServiceClient(kvConn),
	}, nil
}

// Register adds the router's services to g.
func (r *Router) Register(g grpc.ServiceRegistrar) {
	kvv1.RegisterKVServiceServer(g, r)
	statusv1.RegisterStatusServiceServer(g, r)
}

// local checks that dc names this datacenter (or none).
func (r *Router) local(dc string) error {
	if dc == "" || dc == r.datacenter {
		return nil
	}
	return ErrNoPathToDatacenter
}

// Get forwards a KV read.
func (r *Router) Get(ctx context.Context, req *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	if err := r.local(req.GetOptions().GetDatacenter()); err != nil {
		return nil, err
	}
	return r.kv.Get(ctx, req)
}

// Put forwards a KV write.
func (r *Router) Put(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	if err := r.local(req.GetOptions().GetDatacenter()); err != nil {
		return nil, err
	}
	return r.kv.Put(ctx, req)
}

// Delete forwards a KV delete.
func (r *Router) Delete(ctx context.Context, req *kvv1.DeleteRequest) (*kvv1.DeleteResponse, error) {
	if err := r.local(req.GetOptions().GetDatacenter()); err != nil {
		return nil, err
	}
	return r.kv.Delete(ctx, req)
}

// Watch forwards a KV watch stream.
func (r *Router) Watch(req *kvv1.WatchRequest, stream kvv1.KVService_WatchServer) error {
	if err := r.local(req.GetDatacenter()); err != nil {
		return err
	}
	up, err := r.kv.Watch(stream.Context(), req)
	if err != nil {
		return err
	}
	for {
		resp, err := up.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return fmt.Errorf("router: watch send: %w", err)
		}
	}
}

// Leader forwards a status call.
func (r *Router) Leader(ctx context.Context, req *statusv1.LeaderRequest) (*statusv1.LeaderResponse, error) {
	if err := r.local(req.GetDatacenter()); err != nil {
		return nil, err
	}
	return r.status.Leader(ctx, req)
}

// Peers forwards a status call.
func (r *Router) Peers(ctx context.Context, req *statusv1.PeersRequest) (*statusv1.PeersResponse, error) {
	if err := r.local(req.GetDatacenter()); err != nil {
		return nil, err
	}
	return r.status.Peers(ctx, req)
}
