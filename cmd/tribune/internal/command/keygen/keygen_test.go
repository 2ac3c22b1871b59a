package keygen

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tribune/tribune/cmd/tribune/internal/command"
	"github.com/tribune/tribune/cmd/tribune/internal/command/commandtest"
)

// New is a command.Factory, as main wires it.
var _ command.Factory = New

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("getrandom: boom") }

// counting is 0x00, 0x01, 0x02, ... without end.
type counting struct{ next byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.next
		c.next++
	}
	return len(p), nil
}

func TestKeygen(t *testing.T) {
	tests := []struct {
		name      string
		rand      io.Reader
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		errPrefix bool
	}{
		{name: "key", rand: &counting{},
			wantOut: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"},
		{name: "key from short reads", rand: io.MultiReader(bytes.NewReader([]byte{0xff}), bytes.NewReader(bytes.Repeat([]byte{0xfe}, 40))),
			wantOut: "//7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v4=\n"},
		{name: "not enough entropy", rand: bytes.NewReader(make([]byte, 16)), wantCode: 1,
			wantErr: "Couldn't read enough entropy. Generate more entropy!\n"},
		{name: "no entropy", rand: bytes.NewReader(nil), wantCode: 1,
			wantErr: "Couldn't read enough entropy. Generate more entropy!\n"},
		{name: "read error", rand: errReader{}, wantCode: 1,
			wantErr: "Error reading random data: getrandom: boom\n"},
		{name: "arguments", rand: &counting{}, args: []string{"32"}, wantCode: 1,
			wantErr: "Too many arguments (expected 0, got 1)\n"},
		{name: "unknown flag", rand: &counting{}, args: []string{"-http-addr=127.0.0.1:8500"}, wantCode: 1, errPrefix: true,
			wantErr: "flag provided but not defined: -http-addr\nUsage: tribune keygen\n"},
		{name: "help", rand: &counting{}, args: []string{"-h"},
			wantErr: "Usage: tribune keygen\n\n  Generates a new 32-byte encryption key that can be used to configure the\n" +
				"  agent to encrypt traffic. The output of this command is already\n" +
				"  in the proper format that the agent expects.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := &cmd{io: command.IO{Out: &out, Err: &errb}, rand: tt.rand}
			code := c.Run(context.Background(), tt.args)
			commandtest.Check(t, code, out.String(), errb.String(), tt.wantCode, tt.wantOut, tt.wantErr, tt.errPrefix)
		})
	}
}

// TestRandomKeys checks New's keys: 32 bytes, base64 with padding as the
// agent's -encrypt expects, and different each time.
func TestRandomKeys(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		var out, errb bytes.Buffer
		if code := New(command.IO{Out: &out, Err: &errb}).Run(context.Background(), nil); code != 0 || errb.Len() != 0 {
			t.Fatalf("exit code %d, stderr %q", code, errb.String())
		}
		key, ok := strings.CutSuffix(out.String(), "\n")
		if !ok || len(key) != 44 || strings.Contains(key, "\n") {
			t.Fatalf("stdout = %q, want one 44-character line", out.String())
		}
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 32 {
			t.Fatalf("key %q decodes to %d bytes (%v), want 32", key, len(raw), err)
		}
		if seen[key] {
			t.Fatalf("key %q generated twice", key)
		}
		seen[key] = true
	}
}
