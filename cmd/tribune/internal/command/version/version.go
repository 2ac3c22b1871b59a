// Package version implements `tribune version`.
package version

import (
	"context"
	"fmt"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/cmd/tribune/internal/release"
)

type cmd struct{ io command.IO }

// New returns the version command.
func New(io command.IO) command.Command { return &cmd{io: io} }

func (c *cmd) Synopsis() string { return "Prints the Tribune version" }

func (c *cmd) Run(context.Context, []string) int {
	fmt.Fprintf(c.io.Out, "Tribune v%s\n", release.Version)
	fmt.Fprintf(c.io.Out, "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)\n")
	return 0
}
