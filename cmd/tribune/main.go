// Command tribune is Tribune's CLI: the agent, the services it supervises,
// and the client commands, with the flags Consul's CLI users know.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/cmd/tribune/internal/command/agent"
	"github.com/tribune/tribune/cmd/tribune/internal/command/bench"
	"github.com/tribune/tribune/cmd/tribune/internal/command/catalog"
	"github.com/tribune/tribune/cmd/tribune/internal/command/demoservice"
	"github.com/tribune/tribune/cmd/tribune/internal/command/forceleave"
	"github.com/tribune/tribune/cmd/tribune/internal/command/join"
	"github.com/tribune/tribune/cmd/tribune/internal/command/keygen"
	"github.com/tribune/tribune/cmd/tribune/internal/command/kv"
	"github.com/tribune/tribune/cmd/tribune/internal/command/leave"
	"github.com/tribune/tribune/cmd/tribune/internal/command/maint"
	"github.com/tribune/tribune/cmd/tribune/internal/command/members"
	"github.com/tribune/tribune/cmd/tribune/internal/command/operator"
	"github.com/tribune/tribune/cmd/tribune/internal/command/reload"
	"github.com/tribune/tribune/cmd/tribune/internal/command/service"
	"github.com/tribune/tribune/cmd/tribune/internal/command/services"
	"github.com/tribune/tribune/cmd/tribune/internal/command/version"
)

func commands() map[string]command.Factory {
	return map[string]command.Factory{
		"agent":    agent.New,
		"service":  service.New,
		"kv":       kv.New,
		"catalog":  catalog.New,
		"services": services.New,
		"maint":    maint.New,
		"reload":   reload.New,
		"members":  members.New,
		"operator": operator.New,
		"join":     join.New,
		"leave":    leave.New,
		"keygen":   keygen.New,

		"force-leave": forceleave.New,
		"bench":       bench.New,
		"version":     version.New,

		"demo-service": demoservice.New,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], command.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

func run(ctx context.Context, args []string, io command.IO) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.Err, cmds)
		return 1
	}
	if args[0] == "-v" || args[0] == "--version" {
		args = []string{"version"}
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(io.Err, "Unknown command: %q\n\n", args[0])
		usage(io.Err, cmds)
		return 1
	}
	return f(io).Run(ctx, args[1:])
}

func usage(w io.Writer, cmds map[string]command.Factory) {
	fmt.Fprintln(w, "Usage: tribune [--version] [--help] <command> [<args>]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Available commands are:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "    %-12s %s\n", n, cmds[n](command.IO{}).Synopsis())
	}
}
