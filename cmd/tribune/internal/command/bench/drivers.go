package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/rpc"
	kvv1 "github.com/tribune/tribune/sdk/go/tribune/kv/v1"
)

// driver issues requests to one kind of store. Its methods are called
// concurrently by every load client.
type driver interface {
	put(ctx context.Context, key string, value []byte) error
	get(ctx context.Context, key string) error
	close() error
}

// errNotFound is a get of a key the store does not hold.
var errNotFound = errors.New("key not found")

func newDriver(cfg *config) (driver, error) {
	switch cfg.target {
	case targetGRPC:
		return newGRPCDriver(splitAddrs(cfg.addr)...)
	case targetHTTP:
		return newHTTPDriver(cfg.addr, cfg.clients)
	case targetEtcd:
		return newEtcdDriver(splitAddrs(cfg.addr))
	}
	return nil, fmt.Errorf("unknown target %q", cfg.target)
}

// splitAddrs splits a comma-separated -addr list.
func splitAddrs(s string) []string {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// grpcDriver talks to Tribune's KVService over one multiplexed connection
// per address, sending each request to the next address in turn (as
// etcd's client balances over its endpoints).
type grpcDriver struct {
	conns []*grpc.ClientConn
	kvs   []kvv1.KVServiceClient
	next  atomic.Uint64
}

func newGRPCDriver(addrs ...string) (*grpcDriver, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no address")
	}
	d := &grpcDriver{}
	for _, addr := range addrs {
		conn, err := rpc.Dial(addr)
		if err != nil {
			d.close()
			return nil, err
		}
		d.conns = append(d.conns, conn)
		d.kvs = append(d.kvs, kvv1.NewKVServiceClient(conn))
	}
	return d, nil
}

// kv returns the client of the next address.
func (d *grpcDriver) kv() kvv1.KVServiceClient {
	if len(d.kvs) == 1 {
		return d.kvs[0]
	}
	return d.kvs[(d.next.Add(1)-1)%uint64(len(d.kvs))]
}

func (d *grpcDriver) put(ctx context.Context, key string, value []byte) error {
	resp, err := d.kv().Put(ctx, &kvv1.PutRequest{Key: key, Value: value})
	if err != nil {
		return err
	}
	if !resp.GetOk() {
		return errors.New("put not applied")
	}
	return nil
}

func (d *grpcDriver) get(ctx context.Context, key string) error {
	resp, err := d.kv().Get(ctx, &kvv1.GetRequest{Key: key})
	if err != nil {
		return err
	}
	if len(resp.GetPairs()) == 0 {
		return errNotFound
	}
	return nil
}

func (d *grpcDriver) close() error {
	var errs []error
	for _, c := range d.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// httpDriver talks to a Consul-compatible /v1/kv over plain net/http, with
// a pool of up to one keep-alive connection per client.
type httpDriver struct {
	client *http.Client
	base   string // scheme://host:port/v1/kv/
}

func newHTTPDriver(addr string, clients int) (*httpDriver, error) {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid -addr %q", addr)
	}
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// One idle connection kept per client: without it, the default of
		// 2 per host makes most requests open a new connection.
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httpDriver{
		client: &http.Client{Transport: tr},
		base:   u.Scheme + "://" + u.Host + "/v1/kv/",
	}, nil
}

func (d *httpDriver) url(key string) string {
	return d.base + strings.TrimPrefix((&url.URL{Path: "/" + key}).EscapedPath(), "/")
}

func (d *httpDriver) put(ctx context.Context, key string, value []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.url(key), bytes.NewReader(value))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if !bytes.Contains(body, []byte("true")) {
		return errors.New("put not applied")
	}
	return nil
}

func (d *httpDriver) get(ctx context.Context, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url(key), nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return errNotFound
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
}

func (d *httpDriver) close() error {
	d.client.CloseIdleConnections()
	return nil
}

// etcdDriver talks to etcd's v3 API through its client, which balances
// requests over its endpoints round-robin.
type etcdDriver struct{ client *clientv3.Client }

func newEtcdDriver(addrs []string) (*etcdDriver, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   addrs,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// As rpc.Dial does for Tribune: large windows keep a busy
		// connection from stalling on flow control.
		DialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(4 << 20),
			grpc.WithInitialConnWindowSize(16 << 20),
		},
	})
	if err != nil {
		return nil, err
	}
	return &etcdDriver{client: c}, nil
}

func (d *etcdDriver) put(ctx context.Context, key string, value []byte) error {
	_, err := d.client.Put(ctx, key, string(value))
	return err
}

func (d *etcdDriver) get(ctx context.Context, key string) error {
	resp, err := d.client.Get(ctx, key)
	if err != nil {
		return err
	}
	if resp.Count == 0 {
		return errNotFound
	}
	return nil
}

func (d *etcdDriver) close() error { return d.client.Close() }
