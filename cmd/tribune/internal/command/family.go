package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Subcommand is one command of a family (kv get, catalog nodes).
type Subcommand interface {
	// Flags returns a new flag set bound to the subcommand's fields.
	Flags() *flag.FlagSet
	// Run runs the subcommand with its positional arguments and returns
	// the exit code.
	Run(ctx context.Context, args []string) int
	Synopsis() string
	Help() string
}

// Family is a command made of subcommands, dispatched by the first
// argument as Consul's CLI does: `tribune NAME SUBCOMMAND [options]`.
type Family struct {
	IO IO
	// Name is the family's command name.
	Name string
	// Summary is the family's line in the command list.
	Summary string
	// Intro is the help text before the list of subcommands.
	Intro string
	// Subcommands by name.
	Subcommands map[string]Subcommand
	// NoArgs refuses positional arguments after the options.
	NoArgs bool
}

// Synopsis returns the family's summary.
func (f *Family) Synopsis() string { return f.Summary }

// Run dispatches args to a subcommand, parsing its flags.
func (f *Family) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		f.usage()
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		f.usage()
		return 0
	}
	sub, ok := f.Subcommands[args[0]]
	if !ok {
		fmt.Fprintf(f.IO.Err, "Unknown subcommand: %q\n\n", args[0])
		f.usage()
		return 1
	}
	fs := sub.Flags()
	fs.SetOutput(f.IO.Err)
	fs.Usage = func() {
		fmt.Fprint(f.IO.Err, strings.TrimLeft(sub.Help(), "\n"))
		fmt.Fprintln(f.IO.Err, "\nOptions:")
		fmt.Fprintln(f.IO.Err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if n := fs.NArg(); f.NoArgs && n > 0 {
		fmt.Fprintf(f.IO.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}
	return sub.Run(ctx, fs.Args())
}

func (f *Family) usage() {
	fmt.Fprintf(f.IO.Err, "Usage: tribune %s <subcommand> [options] [args]\n\n", f.Name)
	fmt.Fprint(f.IO.Err, strings.Trim(f.Intro, "\n"), "\n\nSubcommands:\n")
	names := make([]string, 0, len(f.Subcommands))
	width := 12
	for n := range f.Subcommands {
		names = append(names, n)
		width = max(width, len(n)+1)
	}
	sortStrings(names)
	for _, n := range names {
		fmt.Fprintf(f.IO.Err, "    %-*s %s\n", width, n, f.Subcommands[n].Synopsis())
	}
}

// NewFlagSet returns an empty flag set that reports errors instead of
// exiting.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
