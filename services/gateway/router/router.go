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

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	batchv1 "github.com/tribune/tribune/sdk/go/tribune/kv/batch/v1"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
	membershipv1 "github.com/tribune/tribune/sdk/go/tribune/membership/v1"
	regbatchv1 "github.com/tribune/tribune/sdk/go/tribune/registry/batch/v1"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
	statusv1 "github.com/tribune/tribune/sdk/go/tribune/status/v1"

	"github.com/tribune/tribune/lib/batch"
	"github.com/tribune/tribune/lib/raftpeer"
)

// ErrNoPathToDatacenter is Consul's answer for a datacenter it cannot reach.
var ErrNoPathToDatacenter = status.Error(codes.Unavailable, "No path to datacenter")

// Router forwards calls to the local services. Its catalog service is
// Registry and its agent service Agent, types apart (see Registry).
type Router struct {
	kvv1.UnimplementedKVServiceServer
	statusv1.UnimplementedStatusServiceServer

	datacenter string
	kv         kvv1.KVServiceClient
	// kvWrites batches the local KV store's puts and deletes (nil on a
	// client agent): many clients' writes become one call to the kv
	// service and one Raft entry.
	kvWrites *batch.Batcher[*batchv1.Op, *batchv1.Result]
	status   statusv1.StatusServiceClient
	// kvStatus is the kv service's status: the KV shard's Raft.
	kvStatus statusv1.StatusServiceClient
	registry *Registry
	agent    *Agent
	members  *Members
	remotes  *remotes
}

// Option configures a Router.
type Option func(*options)

type options struct {
	batch        batch.Config
	registryConn grpc.ClientConnInterface
	healthConn   grpc.ClientConnInterface
	memberConn   grpc.ClientConnInterface
}

// WithRegistry forwards catalog and health calls over conn, the registry
// service's connection. Without it they fail with ErrNoServers.
func WithRegistry(conn grpc.ClientConnInterface) Option {
	return func(o *options) { o.registryConn = conn }
}

// WithWriteBatching bounds the batches of local KV and catalog writes; the
// default is batch.DefaultConfig().
func WithWriteBatching(cfg batch.Config) Option {
	return func(o *options) { o.batch = cfg }
}

// WithHealth forwards agent calls (Consul's /v1/agent) over conn, the
// local health service's connection. Without it they fail with
// ErrNoHealth.
func WithHealth(conn grpc.ClientConnInterface) Option {
	return func(o *options) { o.healthConn = conn }
}

// WithMembership forwards gossip calls (members, join, leave) over conn,
// the local membership service's connection, and answers the datacenter
// list from its WAN pool.
func WithMembership(conn grpc.ClientConnInterface) Option {
	return func(o *options) { o.memberConn = conn }
}

var (
	_ kvv1.KVServiceServer         = (*Router)(nil)
	_ statusv1.StatusServiceServer = (*Router)(nil)
)

// New returns a Router for datacenter that forwards KV calls over kvConn,
// the kv service's connection, and catalog and agent calls as opts say. A
// client agent has no kv or registry service (nil kvConn, no
// WithRegistry): its calls go to a live server of its datacenter found in
// the LAN pool (WithMembership).
// Status calls go to the registry when there is one (its Raft is the
// servers' Raft, as Consul reports it), else to the kv service.
func New(datacenter string, kvConn grpc.ClientConnInterface, opts ...Option) (*Router, error) {
	if datacenter == "" {
		return nil, errors.New("router: datacenter is required")
	}
	o := options{batch: batch.DefaultConfig()}
	for _, opt := range opts {
		opt(&o)
	}
	var kvWrites *batch.Batcher[*batchv1.Op, *batchv1.Result]
	if kvConn != nil {
		var err error
		c := batchv1.NewBatchServiceClient(kvConn)
		kvWrites, err = newWrites(o.batch, func(ctx context.Context, ops []*batchv1.Op) ([]*batchv1.Result, error) {
			resp, err := c.Write(ctx, &batchv1.WriteRequest{Ops: ops})
			return resp.GetResults(), err
		}, (*batchv1.Result).GetError, kvOpSize)
		if err != nil {
			return nil, fmt.Errorf("router: %w", err)
		}
	}
	reg := &Registry{datacenter: datacenter}
	statusConn := kvConn
	if o.registryConn != nil {
		reg.client = registryv1.NewRegistryServiceClient(o.registryConn)
		c := regbatchv1.NewBatchServiceClient(o.registryConn)
		var err error
		reg.writes, err = newWrites(o.batch, func(ctx context.Context, ops []*regbatchv1.Op) ([]*regbatchv1.Result, error) {
			resp, err := c.Write(ctx, &regbatchv1.WriteRequest{Ops: ops})
			return resp.GetResults(), err
		}, (*regbatchv1.Result).GetError, registryOpSize)
		if err != nil {
			return nil, fmt.Errorf("router: %w", err)
		}
		statusConn = o.registryConn
	}
	agent := &Agent{}
	if o.healthConn != nil {
		agent.client = agentv1.NewAgentServiceClient(o.healthConn)
	}
	members := &Members{}
	if o.memberConn != nil {
		members.client = membershipv1.NewMembershipServiceClient(o.memberConn)
		reg.members = members.client
	}
	rem := newRemotes(datacenter, members.client)
	rem.viaServer = o.registryConn == nil
	reg.remotes = rem
	return &Router{
		datacenter: datacenter,
		kv:         kvClient(kvConn),
		kvWrites:   kvWrites,
		status:     statusClient(statusConn),
		kvStatus:   statusClient(kvConn),
		registry:   reg,
		agent:      agent,
		members:    members,
		remotes:    rem,
	}, nil
}

// kvClient is nil without a connection: a client agent has no kv service.
func kvClient(conn grpc.ClientConnInterface) kvv1.KVServiceClient {
	if conn == nil {
		return nil
	}
	return kvv1.NewKVServiceClient(conn)
}

func statusClient(conn grpc.ClientConnInterface) statusv1.StatusServiceClient {
	if conn == nil {
		return nil
	}
	return statusv1.NewStatusServiceClient(conn)
}

// Close closes the connections the router opened to other datacenters and
// fails the writes still waiting for a batch.
func (r *Router) Close() {
	if r.kvWrites != nil {
		r.kvWrites.Close()
	}
	if r.registry.writes != nil {
		r.registry.writes.Close()
	}
	r.remotes.Close()
}

// localWrite reports whether a write for dc goes to this server's own kv
// service, through the batches.
func (r *Router) localWrite(dc string) bool {
	return r.kvWrites != nil && (dc == "" || dc == r.datacenter)
}

// Registry returns the router's catalog service.
func (r *Router) Registry() *Registry { return r.registry }

// Agent returns the router's agent service.
func (r *Router) Agent() *Agent { return r.agent }

// Members returns the router's membership service.
func (r *Router) Members() *Members { return r.members }

// AddTo adds the router's services to g.
func (r *Router) AddTo(g grpc.ServiceRegistrar) {
	kvv1.RegisterKVServiceServer(g, r)
	statusv1.RegisterStatusServiceServer(g, r)
	registryv1.RegisterRegistryServiceServer(g, r.registry)
	agentv1.RegisterAgentServiceServer(g, r.agent)
	membershipv1.RegisterMembershipServiceServer(g, r.members)
}

// kvFor returns the KV service of datacenter dc: the local one, or a
// server's of another datacenter.
func (r *Router) kvFor(ctx context.Context, dc string) (kvv1.KVServiceClient, error) {
	conn, err := r.remotes.conn(ctx, dc)
	if err != nil {
		return nil, err
	}
	if conn == nil && r.kv != nil {
		return r.kv, nil
	}
	if conn == nil { // a client agent: a server of this datacenter
		if conn, err = r.remotes.server(ctx); err != nil {
			return nil, err
		}
	}
	return kvv1.NewKVServiceClient(conn), nil
}

// statusFor returns the status service of datacenter dc.
func (r *Router) statusFor(ctx context.Context, dc string) (statusv1.StatusServiceClient, error) {
	return r.shardStatusFor(ctx, dc, statusv1.Shard_SHARD_UNSPECIFIED)
}

// shardStatusFor returns the status service of shard in datacenter dc: the
// local service that holds it, or another server's gateway (a client
// agent's, or another datacenter's), which picks the shard itself.
func (r *Router) shardStatusFor(ctx context.Context, dc string, shard statusv1.Shard) (statusv1.StatusServiceClient, error) {
	conn, err := r.remotes.conn(ctx, dc)
	if err != nil {
		return nil, err
	}
	local := r.status
	if shard == statusv1.Shard_SHARD_KV {
		local = r.kvStatus
	}
	if conn == nil && local != nil {
		return local, nil
	}
	if conn == nil {
		if conn, err = r.remotes.server(ctx); err != nil {
			return nil, err
		}
	}
	return statusv1.NewStatusServiceClient(conn), nil
}

// Get forwards a KV read.
func (r *Router) Get(ctx context.Context, req *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	kv, err := r.kvFor(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	return kv.Get(ctx, req)
}

// Put forwards a KV write.
func (r *Router) Put(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	if r.localWrite(req.GetOptions().GetDatacenter()) {
		res, err := write(ctx, r.kvWrites, &batchv1.Op{Op: &batchv1.Op_Put{Put: req}})
		if err != nil {
			return nil, err
		}
		if res.GetPut() == nil {
			return nil, status.Error(codes.Internal, "router: a put's batch result is not a put's")
		}
		return res.GetPut(), nil
	}
	kv, err := r.kvFor(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	return kv.Put(ctx, req)
}

// Delete forwards a KV delete.
func (r *Router) Delete(ctx context.Context, req *kvv1.DeleteRequest) (*kvv1.DeleteResponse, error) {
	if r.localWrite(req.GetOptions().GetDatacenter()) {
		res, err := write(ctx, r.kvWrites, &batchv1.Op{Op: &batchv1.Op_Delete{Delete: req}})
		if err != nil {
			return nil, err
		}
		if res.GetDelete() == nil {
			return nil, status.Error(codes.Internal, "router: a delete's batch result is not a delete's")
		}
		return res.GetDelete(), nil
	}
	kv, err := r.kvFor(ctx, req.GetOptions().GetDatacenter())
	if err != nil {
		return nil, err
	}
	return kv.Delete(ctx, req)
}

// Watch forwards a KV watch stream.
func (r *Router) Watch(req *kvv1.WatchRequest, stream kvv1.KVService_WatchServer) error {
	kv, err := r.kvFor(stream.Context(), req.GetDatacenter())
	if err != nil {
		return err
	}
	up, err := kv.Watch(stream.Context(), req)
	if err != nil {
		return err
	}
	return relay(up, stream)
}

// relay forwards the messages of a server stream from the service that
// owns it to the gateway's client until the upstream ends.
func relay[T any](up grpc.ServerStreamingClient[T], down grpc.ServerStreamingServer[T]) error {
	for {
		resp, err := up.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := down.Send(resp); err != nil {
			return fmt.Errorf("router: relay a stream: %w", err)
		}
	}
}

// Leader forwards a status call.
func (r *Router) Leader(ctx context.Context, req *statusv1.LeaderRequest) (*statusv1.LeaderResponse, error) {
	st, err := r.statusFor(ctx, req.GetDatacenter())
	if err != nil {
		return nil, err
	}
	return st.Leader(ctx, req)
}

// Peers forwards a status call.
func (r *Router) Peers(ctx context.Context, req *statusv1.PeersRequest) (*statusv1.PeersResponse, error) {
	st, err := r.statusFor(ctx, req.GetDatacenter())
	if err != nil {
		return nil, err
	}
	return st.Peers(ctx, req)
}

// RaftConfiguration forwards a Raft configuration read to the service
// holding the shard asked for (the registry's by default).
func (r *Router) RaftConfiguration(ctx context.Context, req *statusv1.RaftConfigurationRequest) (*statusv1.RaftConfigurationResponse, error) {
	st, err := r.shardStatusFor(ctx, req.GetDatacenter(), req.GetShard())
	if err != nil {
		return nil, err
	}
	return st.RaftConfiguration(ctx, req)
}

// RemovePeer removes a server from both shards, as Consul removes it from
// its one Raft. The server is named by its ID (its node ID, the same
// replica in both shards) or by its registry-shard address, which names
// the replica to remove from the KV shard too. It is not found only when
// neither shard has it.
func (r *Router) RemovePeer(ctx context.Context, req *statusv1.RemovePeerRequest) (*statusv1.RemovePeerResponse, error) {
	if req.GetReplicaId() == 0 {
		switch {
		case req.GetId() == "" && req.GetAddress() == "":
			return nil, status.Error(codes.InvalidArgument, raftpeer.MsgNeither)
		case req.GetId() != "" && req.GetAddress() != "":
			return nil, status.Error(codes.InvalidArgument, raftpeer.MsgBoth)
		}
	}
	conn, err := r.remotes.conn(ctx, req.GetDatacenter())
	if err != nil {
		return nil, err
	}
	if conn != nil || r.status == nil || r.kvStatus == nil {
		// Another datacenter's gateway, or a server's for a client agent:
		// its router removes from both shards.
		if conn == nil {
			if conn, err = r.remotes.server(ctx); err != nil {
				return nil, err
			}
		}
		return statusv1.NewStatusServiceClient(conn).RemovePeer(ctx, req)
	}
	notFound := status.Errorf(codes.NotFound, "id %q was not found in the Raft configuration", req.GetId())
	id := req.GetReplicaId()
	switch {
	case id != 0:
	case req.GetId() != "":
		var ok bool
		if id, ok = raftpeer.ReplicaID(req.GetId()); !ok {
			return nil, notFound
		}
	default:
		notFound = status.Errorf(codes.NotFound, "address %q was not found in the Raft configuration", req.GetAddress())
		c, err := r.status.RaftConfiguration(ctx, &statusv1.RaftConfigurationRequest{})
		if err != nil {
			return nil, err
		}
		for _, s := range c.GetServers() {
			if s.GetAddress() == req.GetAddress() {
				id = s.GetReplicaId()
			}
		}
		if id == 0 {
			return nil, notFound
		}
	}
	removed := false
	for _, st := range []statusv1.StatusServiceClient{r.kvStatus, r.status} {
		_, err := st.RemovePeer(ctx, &statusv1.RemovePeerRequest{ReplicaId: id})
		switch {
		case err == nil:
			removed = true
		case status.Code(err) != codes.NotFound:
			return nil, err
		}
	}
	if !removed {
		return nil, notFound
	}
	return &statusv1.RemovePeerResponse{}, nil
}
