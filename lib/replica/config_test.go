package replica

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.ShardID, c.ReplicaID, c.Dir, c.RaftAddress = 2, 7, "/d", "127.0.0.1:8303"
		return c
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"no shard", func(c *Config) { c.ShardID = 0 }, "ShardID"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "Timeout must be positive"},
		{"negative hold", func(c *Config) { c.HoldTimeout = -time.Second }, "HoldTimeout"},
		{"no contact probe", func(c *Config) { c.ContactProbeInterval = 0 }, "ContactProbeInterval must be at least 2ms"},
		{"contact probe too short", func(c *Config) { c.ContactProbeInterval = time.Millisecond }, "ContactProbeInterval must be at least 2ms"},
		{"shortest contact probe", func(c *Config) { c.ContactProbeInterval = 2 * time.Millisecond }, ""},
		{"no read attempt timeout", func(c *Config) { c.ReadAttemptTimeout = 0 }, "ReadAttemptTimeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
