package checks

import (
	"context"
	"fmt"
	"net"
	"time"
)

// tcpProbe is passing when a TCP connection to addr opens, critical with
// the dial error otherwise.
type tcpProbe struct {
	addr    string
	timeout time.Duration
}

func (p *tcpProbe) Check(ctx context.Context) (string, string) {
	d := net.Dialer{Timeout: p.timeout}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return Critical, err.Error()
	}
	conn.Close()
	return Passing, fmt.Sprintf("TCP connect %s: Success", p.addr)
}
