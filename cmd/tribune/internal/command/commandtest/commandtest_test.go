package commandtest

import (
	"slices"
	"testing"
)

func TestWithAddr(t *testing.T) {
	tests := []struct {
		name   string
		family bool
		addr   string
		args   []string
		want   []string
	}{
		{name: "no address", args: []string{"-wan"}, want: []string{"-wan"}},
		{name: "command", addr: "http://a", args: []string{"10.0.0.5"}, want: []string{"-http-addr=http://a", "10.0.0.5"}},
		{name: "command without args", addr: "http://a", want: []string{"-http-addr=http://a"}},
		{name: "family", family: true, addr: "http://a", args: []string{"get", "-recurse", "k"},
			want: []string{"get", "-http-addr=http://a", "-recurse", "k"}},
		// The family prints its usage: there is no subcommand to give it to.
		{name: "family without subcommand", family: true, addr: "http://a", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := slices.Clone(tt.args)
			got := Cmd{Family: tt.family}.withAddr(tt.addr, args)
			if !slices.Equal(got, tt.want) {
				t.Errorf("withAddr = %q, want %q", got, tt.want)
			}
			if !slices.Equal(args, tt.args) {
				t.Errorf("withAddr changed its args to %q", args)
			}
		})
	}
}
