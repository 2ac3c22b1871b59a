// Package maint implements `tribune maint`, Consul's `consul maint`: it
// lists, enables and disables the maintenance mode of the agent's node or
// of one of its services, with the same flags and output, over the agent's
// Consul-compatible HTTP API.
package maint

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// The check IDs the agent gives maintenance mode's critical checks, as
// Consul's agent does.
const (
	nodeMaintCheckID          = "_node_maintenance"
	serviceMaintCheckIDPrefix = "_service_maintenance:"
)

type cmd struct {
	io        command.IO
	http      command.HTTPFlags
	enable    bool
	disable   bool
	reason    string
	serviceID string
}

// New returns the maint command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Controls node or service maintenance mode" }

func (c *cmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("maint", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.enable, "enable", false,
		"Enable maintenance mode.")
	fs.BoolVar(&c.disable, "disable", false,
		"Disable maintenance mode.")
	fs.StringVar(&c.reason, "reason", "",
		"Text describing the maintenance reason.")
	fs.StringVar(&c.serviceID, "service", "",
		"Control maintenance mode for a specific service `ID`.")
	c.http.Register(fs)
	return fs
}

func (c *cmd) Run(ctx context.Context, args []string) int {
	fs := c.flags()
	if code, done := command.Parse(fs, c.io, help, args); done {
		return code
	}
	if n := fs.NArg(); n > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}

	// Ensure we don't have conflicting args.
	switch {
	case c.enable && c.disable:
		fmt.Fprintln(c.io.Err, "Only one of -enable or -disable may be provided")
		return 1
	case !c.enable && c.reason != "":
		fmt.Fprintln(c.io.Err, "Reason may only be provided with -enable")
		return 1
	case !c.enable && !c.disable && c.serviceID != "":
		fmt.Fprintln(c.io.Err, "Service requires either -enable or -disable")
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	a := cl.Agent()

	switch {
	case c.enable && c.serviceID == "":
		if err := a.EnableNodeMaintenance(c.reason); err != nil {
			fmt.Fprintf(c.io.Err, "Error enabling node maintenance: %s\n", err)
			return 1
		}
		fmt.Fprintln(c.io.Out, "Node maintenance is now enabled")
	case c.enable:
		if err := a.EnableServiceMaintenance(c.serviceID, c.reason); err != nil {
			fmt.Fprintf(c.io.Err, "Error enabling service maintenance: %s\n", err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Service maintenance is now enabled for %q\n", c.serviceID)
	case c.disable && c.serviceID == "":
		if err := a.DisableNodeMaintenance(); err != nil {
			fmt.Fprintf(c.io.Err, "Error disabling node maintenance: %s\n", err)
			return 1
		}
		fmt.Fprintln(c.io.Out, "Node maintenance is now disabled")
	case c.disable:
		if err := a.DisableServiceMaintenance(c.serviceID); err != nil {
			fmt.Fprintf(c.io.Err, "Error disabling service maintenance: %s\n", err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Service maintenance is now disabled for %q\n", c.serviceID)
	default:
		return c.list(cl)
	}
	return 0
}

// list prints the node and the services in maintenance mode, as Consul
// does: nothing when there are none.
func (c *cmd) list(cl *api.Client) int {
	nodeName, err := nodeName(cl)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error querying Consul agent: %s\n", err)
		return 1
	}
	checks, err := cl.Agent().Checks()
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error getting checks: %s\n", err)
		return 1
	}
	// Consul prints the checks in its map's random order; the node, then
	// the services by ID, is the order "_node..." < "_service..." gives.
	ids := make([]string, 0, len(checks))
	for id := range checks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		check := checks[id]
		if check == nil {
			continue
		}
		switch {
		case check.CheckID == nodeMaintCheckID:
			fmt.Fprintln(c.io.Out, "Node:")
			fmt.Fprintln(c.io.Out, "  Name:   "+nodeName)
			fmt.Fprintln(c.io.Out, "  Reason: "+check.Notes)
			fmt.Fprintln(c.io.Out)
		case strings.HasPrefix(check.CheckID, serviceMaintCheckIDPrefix):
			fmt.Fprintln(c.io.Out, "Service:")
			fmt.Fprintln(c.io.Out, "  ID:     "+check.ServiceID)
			fmt.Fprintln(c.io.Out, "  Reason: "+check.Notes)
			fmt.Fprintln(c.io.Out)
		}
	}
	return 0
}

// nodeName returns the agent's node name from /v1/agent/self, as
// Agent().NodeName does but with an error, not a panic, when the answer
// has none.
func nodeName(cl *api.Client) (string, error) {
	var self struct {
		Config struct{ NodeName string }
	}
	if _, err := cl.Raw().Query("/v1/agent/self", &self, nil); err != nil {
		return "", err
	}
	if self.Config.NodeName == "" {
		return "", errors.New("the agent's /v1/agent/self has no Config.NodeName")
	}
	return self.Config.NodeName, nil
}

const help = `
Usage: tribune maint [options]

  Places a node or service into maintenance mode. During maintenance mode,
  the node or service will be excluded from all queries through the DNS
  or API interfaces, effectively taking it out of the pool of available
  nodes. This is done by registering an additional critical health check.

  When enabling maintenance mode for a node or service, you may optionally
  specify a reason string. This string will appear in the "Notes" field
  of the critical health check which is registered against the node or
  service. If no reason is provided, a default value will be used.

  Maintenance mode is persistent, and will be restored in the event of an
  agent restart. It is therefore required to disable maintenance mode on
  a given node or service before it will be placed back into the pool.

  By default, we operate on the node as a whole. By specifying the
  "-service" argument, this behavior can be changed to enable or disable
  only a specific service.

  If no arguments are given, the agent's maintenance status will be shown.
  This will return blank if nothing is currently under maintenance.

      $ tribune maint -enable -reason="kernel upgrade"
      $ tribune maint -enable -service=web-1
      $ tribune maint
      $ tribune maint -disable
`
