package command

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// Parse parses a command's args with fs, whose usage it sets, as Consul's
// commands print theirs, to help and then the flags, on io.Err. done says
// that the command must end now with code: 0 after -h, 1 after a bad
// flag (which fs has reported).
func Parse(fs *flag.FlagSet, io IO, help string, args []string) (code int, done bool) {
	fs.SetOutput(io.Err)
	fs.Usage = func() {
		fmt.Fprint(io.Err, strings.TrimLeft(help, "\n"))
		fmt.Fprintln(io.Err, "\nOptions:")
		fmt.Fprintln(io.Err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}
