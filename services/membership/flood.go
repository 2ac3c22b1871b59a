package membership

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/tribune/tribune/services/membership/tags"
)

// noticeLANServer wakes the flood loop when a server of this datacenter
// joins the LAN pool or changes its tags. It never blocks (pump calls it).
func (a *Agent) noticeLANServer(ev serf.MemberEvent) {
	if ev.Type != serf.EventMemberJoin && ev.Type != serf.EventMemberUpdate {
		return
	}
	for _, m := range ev.Members {
		if tags.IsServer(m) && m.Tags[tags.Datacenter] == a.cfg.Datacenter {
			select {
			case a.flood <- struct{}{}:
			default: // a check is already due
			}
			return
		}
	}
}

// floodLoop runs floodJoins on every signal and every FloodInterval
// until Shutdown, as Consul's servers run their flood joins.
func (a *Agent) floodLoop() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.FloodInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-a.flood:
		case <-t.C:
		}
		a.mu.Lock()
		done := a.shutdown || a.leaving
		a.mu.Unlock()
		if done {
			// A server that left the WAN pool must not join it again.
			return
		}
		a.floodJoins()
	}
}

// floodJoins joins to the WAN pool every alive server of this datacenter
// that the LAN pool knows and the WAN pool does not (under any status: a
// failed one is memberlist's to reconnect), at the address its LAN tags
// give: wan_join_addr, else its LAN address, and wan_join_port. So that
// one `join -wan` between two servers of two datacenters puts every
// server of both in the WAN pool (Consul's router.FloodJoins).
func (a *Agent) floodJoins() {
	suffix := "." + a.cfg.Datacenter
	inWAN := map[string]bool{}
	for _, m := range a.wan.Members() {
		if tags.IsServer(m) && m.Tags[tags.Datacenter] == a.cfg.Datacenter {
			inWAN[strings.TrimSuffix(m.Name, suffix)] = true
		}
	}
	for _, m := range a.lan.Members() {
		if m.Status != serf.StatusAlive || !tags.IsServer(m) || m.Tags[tags.Datacenter] != a.cfg.Datacenter || inWAN[m.Name] {
			continue
		}
		addr, ok := wanJoinAddress(m)
		if !ok {
			a.log.Debug("flood join: the server has no WAN port tag", "server", m.Name, "tags", m.Tags)
			continue
		}
		n, err := a.wan.Join([]string{addr}, true)
		if n == 0 {
			a.log.Warn("flood join: could not put a server of the datacenter in the WAN pool", "server", m.Name, "wan", addr, "err", err)
			continue
		}
		a.log.Info("flood join: put a server of the datacenter in the WAN pool", "server", m.Name, "wan", addr)
	}
}

// wanJoinAddress is the WAN gossip address of a LAN member that is a
// server: its wan_join_addr tag (or its LAN address) and its
// wan_join_port tag. ok is false without a usable port.
func wanJoinAddress(m serf.Member) (string, bool) {
	port, err := strconv.Atoi(m.Tags[tags.WANJoinPort])
	if err != nil || port < 1 || port > 65535 {
		return "", false
	}
	host := m.Tags[tags.WANJoinAddr]
	if host == "" {
		if m.Addr == nil {
			return "", false
		}
		host = m.Addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true
}
