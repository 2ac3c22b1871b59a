// Package keygen implements `tribune keygen`, Consul's `consul keygen`: it
// prints a new random 32-byte gossip encryption key, base64-encoded as the
// agent's -encrypt flag and "encrypt" setting expect. It needs no agent.
package keygen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// keySize is the key's length in bytes: 32 selects AES-256, as Consul's
// keygen has since 1.4 (the agent also accepts 16- and 24-byte keys).
const keySize = 32

type cmd struct {
	io command.IO
	// rand is the source of the key's bytes.
	rand io.Reader
}

// New returns the keygen command.
func New(io command.IO) command.Command { return &cmd{io: io, rand: rand.Reader} }

func (c *cmd) Synopsis() string { return "Generates a new encryption key" }

func (c *cmd) Run(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(c.io.Err)
	fs.Usage = func() {
		fmt.Fprint(c.io.Err, strings.TrimLeft(help, "\n"))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if n := fs.NArg(); n > 0 {
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 0, got %d)\n", n)
		return 1
	}

	key := make([]byte, keySize)
	if _, err := io.ReadFull(c.rand, key); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			fmt.Fprintln(c.io.Err, "Couldn't read enough entropy. Generate more entropy!")
		} else {
			fmt.Fprintf(c.io.Err, "Error reading random data: %s\n", err)
		}
		return 1
	}
	fmt.Fprintln(c.io.Out, base64.StdEncoding.EncodeToString(key))
	return 0
}

const help = `
Usage: tribune keygen

  Generates a new 32-byte encryption key that can be used to configure the
  agent to encrypt traffic. The output of this command is already
  in the proper format that the agent expects.
`
