package deploy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs deploy/demo.sh (what `make demo` runs) against the
// project TestMain started and checks the walkthrough's answers.
func TestDemo(t *testing.T) {
	p := needCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	script, err := filepath.Abs("demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	t.Setenv("TRIBUNE_SKIP_BUILD", "1") // TestMain built the image
	out, err := p.run(ctx, "bash", script)
	t.Logf("demo.sh (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// tribune members: dc1's LAN pool, three servers and two clients.
		"dc1-server3  " + p.lanIP("dc1-server3") + ":8301  alive   server",
		"dc1-client2  " + p.lanIP("dc1-client2") + ":8301  alive   client",
		// tribune members -wan: the six servers of both datacenters.
		"dc1-server1.dc1  " + p.wanIP("dc1-server1") + ":8302  alive   server",
		"dc2-server3.dc2  " + p.wanIP("dc2-server3") + ":8302  alive   server",
		// /v1/catalog/datacenters from dc1.
		`["dc1","dc2"]`,
		// /v1/catalog/nodes?dc=dc1 asked of dc2.
		`"Node":"dc1-client1","Address":"` + p.lanIP("dc1-client1") + `","Datacenter":"dc1"`,
		// the demo service, passing its HTTP check, read across from dc2.
		`"Output":"HTTP GET http://127.0.0.1:8080/health: 200 OK`,
		// The KV write in dc1, read through ?dc=dc1 from dc2.
		"Success! Data written to: greeting",
		"$ curl 'http://",
		"/v1/kv/greeting?dc=dc1&raw'\nhello-from-dc1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
}
