package kv

import (
	"context"
	"flag"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
)

// deleteCmd is `tribune kv delete`.
type deleteCmd struct {
	io          command.IO
	http        command.HTTPFlags
	cas         bool
	modifyIndex uint64
	recurse     bool
}

func (c *deleteCmd) Synopsis() string { return "Removes data from the KV store" }

func (c *deleteCmd) Flags() *flag.FlagSet {
	fs := command.NewFlagSet("delete")
	fs.BoolVar(&c.cas, "cas", false,
		"Perform a Check-And-Set operation. Specifying this value also requires "+
			"the -modify-index flag to be set. The default value is false.")
	fs.Uint64Var(&c.modifyIndex, "modify-index", 0,
		"Unsigned integer representing the ModifyIndex of the key. This is "+
			"used in combination with the -cas flag.")
	fs.BoolVar(&c.recurse, "recurse", false,
		"Recursively delete all keys with the path. The default value is false.")
	c.http.Register(fs)
	return fs
}

func (c *deleteCmd) Run(ctx context.Context, args []string) int {
	var key string
	switch len(args) {
	case 0:
	case 1:
		key = args[0]
	default:
		fmt.Fprintf(c.io.Err, "Too many arguments (expected 1, got %d)\n", len(args))
		return 1
	}
	key = trimKey(key)
	switch {
	case key == "" && !c.recurse:
		fmt.Fprintln(c.io.Err, "Error! Missing KEY argument")
		return 1
	case c.cas && c.modifyIndex == 0:
		fmt.Fprintln(c.io.Err, "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.")
		return 1
	case c.modifyIndex != 0 && !c.cas:
		fmt.Fprintln(c.io.Err, "Cannot specify -modify-index without -cas!")
		return 1
	case c.recurse && c.cas:
		fmt.Fprintln(c.io.Err, "Cannot specify both -cas and -recurse!")
		return 1
	}

	cl, err := c.http.Client(ctx)
	if err != nil {
		fmt.Fprintf(c.io.Err, "Error connecting to Consul agent: %s\n", err)
		return 1
	}
	w := (&api.WriteOptions{}).WithContext(ctx)

	switch {
	case c.recurse:
		if _, err := cl.KV().DeleteTree(key, w); err != nil {
			fmt.Fprintf(c.io.Err, "Error! Did not delete prefix %s: %s\n", key, err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Success! Deleted keys with prefix: %s\n", key)
	case c.cas:
		ok, _, err := cl.KV().DeleteCAS(&api.KVPair{Key: key, ModifyIndex: c.modifyIndex}, w)
		if err != nil {
			fmt.Fprintf(c.io.Err, "Error! Did not delete key %s: %s\n", key, err)
			return 1
		}
		if !ok {
			fmt.Fprintf(c.io.Err, "Error! Did not delete key %s: CAS failed\n", key)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Success! Deleted key: %s\n", key)
	default:
		if _, err := cl.KV().Delete(key, w); err != nil {
			fmt.Fprintf(c.io.Err, "Error deleting key %s: %s\n", key, err)
			return 1
		}
		fmt.Fprintf(c.io.Out, "Success! Deleted key: %s\n", key)
	}
	return 0
}

func (c *deleteCmd) Help() string {
	return `
Usage: tribune kv delete [options] KEY_OR_PREFIX

  Removes the value from the key-value store at the given path. If no
  key exists at the path, no action is taken.

  To delete the value for the key named "foo" in the key-value store:

      $ tribune kv delete foo

  To delete all keys which start with "foo", specify the -recurse option:

      $ tribune kv delete -recurse foo

  This will delete the keys named "foo", "food", and "foo/bar/zip" if they
  existed.
`
}
