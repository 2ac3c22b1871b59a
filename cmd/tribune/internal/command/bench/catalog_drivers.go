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
	"strconv"
	"strings"

	"google.golang.org/grpc"

	"github.com/tribune/tribune/lib/rpc"
	registryv1 "github.com/tribune/tribune/sdk/go/tribune/registry/v1"
)

// catalogReg is one service instance to register, with its node and a
// passing service check. Its strings are made before the run (or once per
// client and service), so that building a request costs the load
// generator no more than building a KV put does.
type catalogReg struct {
	node, address      string
	service, serviceID string
	port               int
	// checkID and checkName name the instance's check as Consul names an
	// agent service's only check: "service:<id>" and "Service '<name>'
	// check".
	checkID, checkName string
}

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
			CheckId: r.checkID, Name: r.checkName, Status: "passing", ServiceId: r.serviceID,
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

// put PUTs the JSON body to path and expects Consul's bare true.
func (d *catalogHTTPDriver) put(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.base+path, bytes.NewReader(body))
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
	return d.put(ctx, "/v1/catalog/register", appendRegistration(make([]byte, 0, 384), r))
}

func (d *catalogHTTPDriver) deregister(ctx context.Context, node, serviceID string) error {
	return d.put(ctx, "/v1/catalog/deregister", appendDeregistration(make([]byte, 0, 96), node, serviceID))
}

// appendRegistration appends r as Consul's api.CatalogRegistration in
// JSON: the node, its service and the service's passing check. The load
// generator writes the body itself rather than through encoding/json's
// reflection, which cost it as much CPU per registration as the gateway
// spends decoding one.
func appendRegistration(b []byte, r catalogReg) []byte {
	b = append(b, `{"Node":`...)
	b = appendJSONString(b, r.node)
	b = append(b, `,"Address":`...)
	b = appendJSONString(b, r.address)
	b = append(b, `,"Service":{"ID":`...)
	b = appendJSONString(b, r.serviceID)
	b = append(b, `,"Service":`...)
	b = appendJSONString(b, r.service)
	b = append(b, `,"Port":`...)
	b = strconv.AppendInt(b, int64(r.port), 10)
	b = append(b, `},"Check":{"CheckID":`...)
	b = appendJSONString(b, r.checkID)
	b = append(b, `,"Name":`...)
	b = appendJSONString(b, r.checkName)
	b = append(b, `,"Status":"passing","ServiceID":`...)
	b = appendJSONString(b, r.serviceID)
	return append(b, "}}"...)
}

// appendDeregistration appends Consul's api.CatalogDeregistration of a
// node's service, or of the whole node when serviceID is empty.
func appendDeregistration(b []byte, node, serviceID string) []byte {
	b = append(b, `{"Node":`...)
	b = appendJSONString(b, node)
	if serviceID != "" {
		b = append(b, `,"ServiceID":`...)
		b = appendJSONString(b, serviceID)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: as it is between quotes
// when it holds only printable ASCII other than '"', '\\' and the
// characters encoding/json escapes for HTML, and through encoding/json
// otherwise, so the body is byte for byte what json.Marshal would write.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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
