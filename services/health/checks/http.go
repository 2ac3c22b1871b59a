package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
)

// UserAgent is the User-Agent of HTTP probes unless the check sets one.
// It is Consul's, because applications filter their access logs on it.
const UserAgent = "Consul Health Check"

// httpProbe is passing on a 2xx response, warning on 429 Too Many
// Requests, critical on anything else or on an error. Its output is
// Consul's "HTTP GET <url>: 200 OK Output: <body>" with the first
// OutputMaxSize bytes of the body.
type httpProbe struct {
	url, method, body string
	header            http.Header
	client            *http.Client
	max               int
}

func newHTTPProbe(def *agentv1.CheckDefinition, timeout time.Duration, limit int, tc *tls.Config) *httpProbe {
	h := make(http.Header, len(def.Header))
	for k, vs := range def.Header {
		for _, v := range vs.GetValues() {
			h.Add(k, v)
		}
	}
	// A fresh connection for every probe (no keep-alive), as Consul does:
	// a check then tests that the service accepts connections, and a
	// stale pooled connection cannot fail it.
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: timeout,
		DisableKeepAlives:   true,
		ForceAttemptHTTP2:   true,
	}
	return &httpProbe{
		url:    def.Http,
		method: httpMethod(def),
		body:   def.Body,
		header: h,
		client: &http.Client{Transport: tr, Timeout: timeout},
		max:    limit,
	}
}

func (p *httpProbe) Check(ctx context.Context) (string, string) {
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, strings.NewReader(p.body))
	if err != nil {
		return Critical, err.Error()
	}
	req.Header = p.header.Clone()
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/plain, text/*, */*")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Critical, err.Error()
	}
	defer resp.Body.Close()
	// Only the first bytes are kept: reading on would let a large or
	// endless body hold the probe until its timeout.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(p.max)))
	if len(body) == p.max {
		body = dropPartialLast(body)
	}
	out := validUTF8(fmt.Sprintf("HTTP %s %s: %s Output: %s", p.method, p.url, resp.Status, body))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return Passing, out
	case resp.StatusCode == http.StatusTooManyRequests:
		return Warning, out
	}
	return Critical, out
}
