package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/rpc"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// catalogReg is one service instance to register, with its node and a
// passing service check.
type catalogReg struct {
	node, address      string
	service, serviceID string
	port               int
}

// checkID is the ID of the instance's check, as Consul names an agent
// service's only check.
func (r catalogReg) checkID() string { return "service:" + r.serviceID }

func (r catalogReg) checkName() string { return "Service '" + r.service + "' check" }

// catalogDriver issues catalog requests. Its methods are called
// concurrently by every load client.
type catalogDriver interface {
	register(ctx context.Context, r catalogReg) error
	// deregister removes one instance with its checks, or, with serviceID
	// empty, the node with everything on it.
	deregister(ctx context.Context, node, serviceID string) error
	// serviceHealth returns how many instances of service pass all their
	// checks.
	serviceHealth(ctx context.Context, service string) (int, error)
	close() error
}

func newCatalogDriver(cfg *catalogConfig) (catalogDriver, error) {
	switch cfg.target {
	case targetGRPC:
		return newCatalogGRPCDriver(cfg.addr)
	case targetHTTP:
		return newCatalogHTTPDriver(cfg.addr, cfg.clients)
	}
	return nil, fmt.Errorf("unknown target %q", cfg.target)
}

// catalogGRPCDriver talks to Tribune's RegistryService over one
// multiplexed connection.
type catalogGRPCDriver struct {
	conn *grpc.ClientConn
	reg  registryv1.RegistryServiceClient
}

func newCatalogGRPCDriver(addr string) (*catalogGRPCDriver, error) {
	conn, err := rpc.Dial(addr)
	if err != nil {
		return nil, err
	}
	return &catalogGRPCDriver{conn: conn, reg: registryv1.NewRegistryServiceClient(conn)}, nil
}

func (d *catalogGRPCDriver) register(ctx context.Context, r catalogReg) error {
	_, err := d.reg.Register(ctx, &registryv1.RegisterRequest{
		Node:    &registryv1.Node{Node: r.node, Address: r.address},
		Service: &registryv1.Service{Id: r.serviceID, Service: r.service, Port: int32(r.port)},
		Checks: []*registryv1.Check{{
			CheckId: r.checkID(), Name: r.checkName(), Status: "passing", ServiceId: r.serviceID,
		}},
	})
	return err
}

func (d *catalogGRPCDriver) deregister(ctx context.Context, node, serviceID string) error {
	_, err := d.reg.Deregister(ctx, &registryv1.DeregisterRequest{Node: node, ServiceId: serviceID})
	return err
}

func (d *catalogGRPCDriver) serviceHealth(ctx context.Context, service string) (int, error) {
	resp, err := d.reg.ServiceHealth(ctx, &registryv1.ServiceHealthRequest{Service: service, PassingOnly: true})
	if err != nil {
		return 0, err
	}
	return len(resp.GetEntries()), nil
}

func (d *catalogGRPCDriver) close() error { return d.conn.Close() }

// catalogHTTPDriver talks to a Consul-compatible /v1/catalog and
// /v1/health over the KV driver's HTTP client: up to one keep-alive
// connection per client.
type catalogHTTPDriver struct {
	client *http.Client
	base   string // scheme://host:port
}

func newCatalogHTTPDriver(addr string, clients int) (*catalogHTTPDriver, error) {
	kv, err := newHTTPDriver(addr, clients)
	if err != nil {
		return nil, err
	}
	return &catalogHTTPDriver{client: kv.client, base: strings.TrimSuffix(kv.base, "/v1/kv/")}, nil
}

// The request bodies, in Consul's shape (api.CatalogRegistration,
// api.CatalogDeregistration).
type (
	httpCatalogRegistration struct {
		Node    string
		Address string
		Service *httpCatalogService `json:",omitempty"`
		Check   *httpCatalogCheck   `json:",omitempty"`
	}
	httpCatalogService struct {
		ID      string
		Service string
		Port    int
	}
	httpCatalogCheck struct {
		CheckID   string
		Name      string
		Status    string
		ServiceID string
	}
	httpCatalogDeregistration struct {
		Node      string
		ServiceID string `json:",omitempty"`
	}
)

// put PUTs body as JSON to path and expects Consul's bare true.
func (d *catalogHTTPDriver) put(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(got)))
	}
	if !bytes.Equal(bytes.TrimSpace(got), []byte("true")) {
		return fmt.Errorf("PUT %s: answered %q, not true", path, got)
	}
	return nil
}

func (d *catalogHTTPDriver) register(ctx context.Context, r catalogReg) error {
	return d.put(ctx, "/v1/catalog/register", httpCatalogRegistration{
		Node: r.node, Address: r.address,
		Service: &httpCatalogService{ID: r.serviceID, Service: r.service, Port: r.port},
		Check:   &httpCatalogCheck{CheckID: r.checkID(), Name: r.checkName(), Status: "passing", ServiceID: r.serviceID},
	})
}

func (d *catalogHTTPDriver) deregister(ctx context.Context, node, serviceID string) error {
	return d.put(ctx, "/v1/catalog/deregister", httpCatalogDeregistration{Node: node, ServiceID: serviceID})
}

func (d *catalogHTTPDriver) serviceHealth(ctx context.Context, service string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		d.base+"/v1/health/service/"+url.PathEscape(service)+"?passing", nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET /v1/health/service/%s: HTTP %d: %s", service, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Count the entries without decoding them: the array's elements.
	var entries []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return 0, fmt.Errorf("GET /v1/health/service/%s: %w", service, err)
	}
	if entries == nil {
		return 0, errors.New("GET /v1/health/service/" + service + ": null, not a list")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return len(entries), nil
}

func (d *catalogHTTPDriver) close() error {
	d.client.CloseIdleConnections()
	return nil
}
