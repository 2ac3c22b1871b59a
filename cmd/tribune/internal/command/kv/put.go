package kv

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// putCmd is `tribune kv put`.
type putCmd struct {
	io          command.IO
	http        command.HTTPFlags
	cas         bool
	kvFlags     uint64
	base64      bool
	modifyIndex uint64
}

func (c *putCmd) Synopsis() string { return "Sets or updates data in the KV store" }

func (c *putCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("put")
	fs.BoolVar(&c.cas, "cas", false,
		"Perform a Check-And-Set operation. Specifying this value also "+
			"requires the -modify-index flag to be set. The default value "+
			"is false.")
	fs.Uint64Var(&c.kvFlags, "flags", 0,
		"Unsigned integer value to assign to this key-value pair. This "+
			"value is not read by Tribune, so clients can use this value however "+
			"makes sense for their use case. The default value is 0 (no flags).")
	fs.BoolVar(&c.base64, "base64", false,
		"Treat the data as base 64 encoded. The default value is false.")
	fs.Uint64Var(&c.modifyIndex, "modify-index", 0,
		"Unsigned integer representing the ModifyIndex of the key. This is "+
			"used in combination with the -cas flag.")
	c.http.Register(fs)
	return fs
}

func (c *putCmd) Run(ctx context.Context, args []string) int {
	key, data, err := c.dataFromArgs(args)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error! %s\n", err)
		return 1
	}
	value := []byte(data)
	if c.base64 {
		if value, err = base64.StdEncoding.DecodeString(data); err != nil {
			fmt.Fprintf(c.io.Err, "Error! Cannot base 64 decode data: %s\n", err)
			return 1
		}
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	pair := &api.KVPair{Key: key, ModifyIndex: c.modifyIndex, Flags: c.kvFlags, Value: value}
	w := (&api.WriteOptions{}).WithContext(ctx)

	if c.cas {
		ok, _, err := cl.KV().CAS(pair, w)
		switch {
		case err != nil:
			fmt.Fprintf(c.io.Err, "Error! Did not write to %s: %s\n", key, err)
			return 1
		case !ok && c.modifyIndex == 0:
			fmt.Fprintf(c.io.Err, "Error! Did not write to %s: CAS performed with index=0 and key already exists.\n", key)
			return 1
		case !ok:
			fmt.Fprintf(c.io.Err, "Error! Did not write to %s: CAS failed\n", key)
			return 1
		}
	} else if _, err := cl.KV().Put(pair, w); err != nil {
		fmt.Fprintf(c.io.Err, "Error! Failed writing data: %s\n", err)
		return 1
	}
	fmt.Fprintf(c.io.Out, "Success! Data written to: %s\n", key)
	return 0
}

// dataFromArgs returns the key and the data: the DATA argument itself,
// the contents of the file it names after "@", or stdin when it is "-".
func (c *putCmd) dataFromArgs(args []string) (key, data string, err error) {
	switch len(args) {
	case 0:
		return "", "", fmt.Errorf("Missing KEY argument")
	case 1:
		return args[0], "", nil
	case 2:
	default:
		return "", "", fmt.Errorf("Too many arguments (expected 1 or 2, got %d)", len(args))
	}
	key, data = args[0], args[1]
	switch {
	case len(data) > 0 && data[0] == '@':
		b, err := os.ReadFile(data[1:])
		if err != nil {
			return "", "", fmt.Errorf("Failed to read file: %s", err)
		}
		return key, string(b), nil
	case data == "-":
		in := c.io.In
		if in == nil {
			in = os.Stdin
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return "", "", fmt.Errorf("Failed to read stdin: %s", err)
		}
		return key, string(b), nil
	default:
		return key, data, nil
	}
}

func (c *putCmd) Help() string {
	return `
Usage: tribune kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ tribune kv put config/redis/maxconns 5

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol. For example:

      $ tribune kv put config/program/license @license.lic

  Or it can be read from stdin using the "-" symbol:

      $ echo "abcd1234" | tribune kv put config/program/license -

  The DATA argument itself is optional. If omitted, this will create an empty
  key-value pair at the specified path:

      $ tribune kv put webapp/beta/active

  If the -base64 flag is specified, the data will be treated as base 64
  encoded.

  To perform a Check-And-Set operation, specify the -cas flag with the
  appropriate -modify-index flag corresponding to the key you want to perform
  the CAS operation on (an index of 0 writes only if the key does not exist):

      $ tribune kv put -cas -modify-index=844 config/redis/maxconns 5
`
}
