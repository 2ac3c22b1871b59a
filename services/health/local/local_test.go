package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/tribune/tribune/sdk/go/tribune/agent/v1"
	"github.com/tribune/tribune/services/health/local"
)

func TestPersistAndLoad(t *testing.T) {
	dir := t.TempDir()
	st := local.New(dir)
	web := &agentv1.ServiceDefinition{Id: "web-1", Name: "web", Port: 80, Tags: []string{"a"}, Meta: map[string]string{"k": "v"}}
	ttl := &agentv1.CheckDefinition{CheckId: "service:web-1", Name: "ttl", ServiceId: "web-1", Ttl: durationpb.New(30 * time.Second)}
	if _, err := st.AddService(web, []*agentv1.CheckDefinition{ttl}, local.FromAPI, false); err != nil {
		t.Fatal(err)
	}
	fromFile := &agentv1.ServiceDefinition{Id: "db", Name: "db"}
	if _, err := st.AddService(fromFile, nil, local.FromFile, false); err != nil {
		t.Fatal(err)
	}
	st.SetStatus("service:web-1", local.Passing, "fine")

	again := local.New(dir)
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	svcs := again.Services()
	if len(svcs) != 1 || !proto.Equal(svcs[0].Def, web) {
		t.Fatalf("restored services %v, want only the API-registered web-1", svcs)
	}
	c := again.Check("service:web-1")
	if c == nil || !proto.Equal(c.Def, ttl) {
		t.Fatalf("restored check %+v", c)
	}
	// Statuses are not persisted: a TTL check restarts critical.
	if c.Status != local.Critical || c.Output != "" {
		t.Fatalf("restored status %q %q, want critical and no output", c.Status, c.Output)
	}
}

func TestStateOperations(t *testing.T) {
	st := local.New("")
	if err := st.AddCheck(&agentv1.CheckDefinition{CheckId: "c", ServiceId: "nope"}, local.FromAPI); !errors.Is(err, local.ErrUnknownService) {
		t.Fatalf("check of an unknown service: %v", err)
	}
	svc := &agentv1.ServiceDefinition{Id: "s", Name: "s"}
	checks := []*agentv1.CheckDefinition{{CheckId: "a", ServiceId: "s"}, {CheckId: "b", ServiceId: "s", Status: local.Passing}}
	if _, err := st.AddService(svc, checks, local.FromAPI, false); err != nil {
		t.Fatal(err)
	}
	if st.Check("a").Status != local.Critical || st.Check("b").Status != local.Passing {
		t.Fatal("initial statuses: want critical by default and the definition's status otherwise")
	}
	// Re-registering an unchanged check keeps its current status.
	st.SetStatus("a", local.Passing, "up")
	removed, err := st.AddService(svc, checks[:1], local.FromAPI, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "b" || st.Check("b") != nil {
		t.Fatalf("replace-existing-checks removed %v", removed)
	}
	if c := st.Check("a"); c.Status != local.Passing || c.Output != "up" {
		t.Fatalf("unchanged check lost its status: %+v", c)
	}
	if st.SetStatus("a", local.Passing, "up") {
		t.Fatal("SetStatus reported a change for the same status and output")
	}
	gone, err := st.RemoveService("s")
	if err != nil || len(gone) != 1 || st.Check("a") != nil {
		t.Fatalf("RemoveService: %v %v", gone, err)
	}
	if _, err := st.RemoveService("s"); !errors.Is(err, local.ErrUnknownService) {
		t.Fatalf("removing twice: %v", err)
	}
	select {
	case <-st.Changed():
	default:
		t.Fatal("no change signalled")
	}
}

// op is a step of a test, applied to a State.
type op func(t *testing.T, st *local.State)

func addSvc(id string, src local.Source, replace bool, checkIDs ...string) op {
	return func(t *testing.T, st *local.State) {
		t.Helper()
		def := &agentv1.ServiceDefinition{Id: id, Name: "svc-" + id, Port: 80}
		var checks []*agentv1.CheckDefinition
		for _, c := range checkIDs {
			checks = append(checks, &agentv1.CheckDefinition{CheckId: c, Name: c, ServiceId: id, Ttl: durationpb.New(time.Minute)})
		}
		if _, err := st.AddService(def, checks, src, replace); err != nil {
			t.Fatal(err)
		}
	}
}

func rmSvc(id string) op {
	return func(t *testing.T, st *local.State) {
		t.Helper()
		if _, err := st.RemoveService(id); err != nil {
			t.Fatal(err)
		}
	}
}

func addCheck(id, serviceID string, src local.Source) op {
	return func(t *testing.T, st *local.State) {
		t.Helper()
		if err := st.AddCheck(&agentv1.CheckDefinition{CheckId: id, Name: id, ServiceId: serviceID, Status: local.Passing}, src); err != nil {
			t.Fatal(err)
		}
	}
}

func rmCheck(id string) op {
	return func(t *testing.T, st *local.State) {
		t.Helper()
		if err := st.RemoveCheck(id); err != nil {
			t.Fatal(err)
		}
	}
}

// restart is what an agent does at start: a new State on dir, loaded.
func restart(t *testing.T, dir string) *local.State {
	t.Helper()
	st := local.New(dir)
	if err := st.Load(); err != nil {
		t.Fatal(err)
	}
	return st
}

// apiDefs returns a State's API definitions, which are what persists.
func apiDefs(st *local.State) (services map[string]*agentv1.ServiceDefinition, checks map[string]*agentv1.CheckDefinition) {
	services, checks = map[string]*agentv1.ServiceDefinition{}, map[string]*agentv1.CheckDefinition{}
	for _, v := range st.Services() {
		if v.Source == local.FromAPI {
			services[v.Def.Id] = v.Def
		}
	}
	for _, c := range st.Checks() {
		if c.Source == local.FromAPI {
			checks[c.Def.CheckId] = c.Def
		}
	}
	return services, checks
}

// sameDefs fails unless a restarted State holds exactly the API
// definitions of the one before, all from the API.
func sameDefs(t *testing.T, got, want *local.State) {
	t.Helper()
	ws, wc := apiDefs(want)
	gs, gc := apiDefs(got)
	if len(got.Services()) != len(gs) || len(got.Checks()) != len(gc) {
		t.Fatal("restored definitions not all from the API")
	}
	if !maps.EqualFunc(gs, ws, func(a, b *agentv1.ServiceDefinition) bool { return proto.Equal(a, b) }) {
		t.Fatalf("restored services %v, want %v", gs, ws)
	}
	if !maps.EqualFunc(gc, wc, func(a, b *agentv1.CheckDefinition) bool { return proto.Equal(a, b) }) {
		t.Fatalf("restored checks %v, want %v", gc, wc)
	}
}

func ids[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func TestRestartRestoresAPIDefinitions(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		ops                    []op
		wantServices, wantChks []string
	}{
		{"services and checks",
			[]op{addSvc("web", local.FromAPI, false, "web:ttl", "web:http"), addSvc("db", local.FromAPI, false), addCheck("mem", "", local.FromAPI), addCheck("db:tcp", "db", local.FromAPI)},
			[]string{"db", "web"}, []string{"db:tcp", "mem", "web:http", "web:ttl"}},
		{"re-registration replaces the definition",
			[]op{addSvc("web", local.FromAPI, false, "a"), addSvc("web", local.FromAPI, false, "b")},
			[]string{"web"}, []string{"a", "b"}},
		{"replaceChecks drops the others",
			[]op{addSvc("web", local.FromAPI, false, "a", "b", "c"), addSvc("web", local.FromAPI, true, "b")},
			[]string{"web"}, []string{"b"}},
		{"removals",
			[]op{addSvc("web", local.FromAPI, false, "a"), addSvc("db", local.FromAPI, false, "b"), addCheck("mem", "", local.FromAPI), addCheck("c", "db", local.FromAPI), rmSvc("web"), rmCheck("mem"), rmCheck("c")},
			[]string{"db"}, []string{"b"}},
		{"configuration files are not persisted",
			[]op{addSvc("file", local.FromFile, false, "fc"), addCheck("fn", "", local.FromFile), addCheck("api-on-file", "file", local.FromAPI)},
			nil, []string{"api-on-file"}},
		{"from the API to a file",
			[]op{addSvc("web", local.FromAPI, false, "a", "b"), addSvc("web", local.FromFile, false, "a")},
			nil, []string{"b"}},
		{"from a file to the API",
			[]op{addSvc("web", local.FromFile, false, "a"), addSvc("web", local.FromAPI, false, "a")},
			[]string{"web"}, []string{"a"}},
		{"IDs of any characters",
			[]op{addSvc("../../etc/x", local.FromAPI, false, "a/b c:ü\x00"), addSvc("", local.FromAPI, false)},
			[]string{"", "../../etc/x"}, []string{"a/b c:ü\x00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := local.New(dir)
			for _, o := range tc.ops {
				o(t, st)
			}
			again := restart(t, dir)
			sameDefs(t, again, st)
			s, c := apiDefs(again)
			if !slices.Equal(ids(s), tc.wantServices) || !slices.Equal(ids(c), tc.wantChks) {
				t.Fatalf("restored %q and %q, want %q and %q", ids(s), ids(c), tc.wantServices, tc.wantChks)
			}
			// What a restart restored persists through the next one.
			sameDefs(t, restart(t, dir), again)
		})
	}
}

// itemFile is where an item persists, relative to the State's directory.
func itemFile(kind, id string) string {
	h := sha256.Sum256([]byte(id))
	return filepath.Join(kind, hex.EncodeToString(h[:]))
}

func svcFile(id string) string   { return itemFile("services", id) }
func checkFile(id string) string { return itemFile("checks", id) }

// snapshot returns the files in dir's item directories. A file written
// again is a new one (written aside and renamed over), so os.SameFile
// tells the files written since a snapshot, however close in time.
func snapshot(t *testing.T, dir string) map[string]os.FileInfo {
	t.Helper()
	out := map[string]os.FileInfo{}
	for _, kind := range []string{"services", "checks"} {
		entries, err := os.ReadDir(filepath.Join(dir, kind))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Join(kind, e.Name())] = fi
		}
	}
	return out
}

func TestPersistWritesOnlyWhatChanged(t *testing.T) {
	setup := []op{
		addSvc("s1", local.FromAPI, false, "c1", "c2"),
		addSvc("s2", local.FromAPI, false, "c3"),
		addCheck("n", "", local.FromAPI),
		addSvc("f", local.FromFile, false, "fc"),
	}
	for _, tc := range []struct {
		name             string
		op               op
		written, removed []string
	}{
		{"new service", addSvc("s3", local.FromAPI, false, "c4"), []string{svcFile("s3"), checkFile("c4")}, nil},
		{"re-registered service", addSvc("s1", local.FromAPI, false, "c1", "c2"), []string{svcFile("s1"), checkFile("c1"), checkFile("c2")}, nil},
		{"replaceChecks", addSvc("s1", local.FromAPI, true, "c1"), []string{svcFile("s1"), checkFile("c1")}, []string{checkFile("c2")}},
		{"service removed", rmSvc("s1"), nil, []string{svcFile("s1"), checkFile("c1"), checkFile("c2")}},
		{"check added", addCheck("c5", "s2", local.FromAPI), []string{checkFile("c5")}, nil},
		{"check replaced", addCheck("c3", "s2", local.FromAPI), []string{checkFile("c3")}, nil},
		{"check removed", rmCheck("n"), nil, []string{checkFile("n")}},
		{"service check removed", rmCheck("c2"), nil, []string{checkFile("c2")}},
		{"file service changed", addSvc("f", local.FromFile, false, "fc", "fd"), nil, nil},
		{"file service removed", rmSvc("f"), nil, nil},
		{"service moved to a file", addSvc("s2", local.FromFile, false, "c3"), nil, []string{svcFile("s2"), checkFile("c3")}},
		{"service moved to the API", addSvc("f", local.FromAPI, false, "fc"), []string{svcFile("f"), checkFile("fc")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := local.New(dir)
			for _, o := range setup {
				o(t, st)
			}
			before := snapshot(t, dir)
			tc.op(t, st)
			after := snapshot(t, dir)
			var written, removed []string
			for name, fi := range after {
				if old, ok := before[name]; !ok || !os.SameFile(old, fi) {
					written = append(written, name)
				}
			}
			for name := range before {
				if _, ok := after[name]; !ok {
					removed = append(removed, name)
				}
			}
			slices.Sort(written)
			slices.Sort(removed)
			slices.Sort(tc.written)
			slices.Sort(tc.removed)
			if !slices.Equal(written, tc.written) || !slices.Equal(removed, tc.removed) {
				t.Fatalf("wrote %q and removed %q, want %q and %q", written, removed, tc.written, tc.removed)
			}
			sameDefs(t, restart(t, dir), st)
		})
	}
}

func TestItemFileIsReadable(t *testing.T) {
	dir := t.TempDir()
	addSvc("web", local.FromAPI, false)(t, local.New(dir))
	b, err := os.ReadFile(filepath.Join(dir, svcFile("web")))
	if err != nil {
		t.Fatal(err)
	}
	def := &agentv1.ServiceDefinition{}
	if err := protojson.Unmarshal(b, def); err != nil || def.Id != "web" || !strings.Contains(string(b), "\n") {
		t.Fatalf("file %q, parsed %v: want indented protobuf JSON of the definition", b, err)
	}
}

// legacyState is a local-state.json as the single-file version wrote it.
const legacyState = `{
  "services": [
    {
      "id": "web-1",
      "name": "web",
      "tags": [
        "a"
      ],
      "port": 80
    }
  ],
  "checks": [
    {
      "checkId": "mem",
      "name": "mem",
      "status": "passing"
    },
    {
      "checkId": "service:web-1",
      "name": "ttl",
      "serviceId": "web-1",
      "ttl": "30s"
    }
  ]
}
`

func TestLoadMigratesLocalStateFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []op // item files already there
	}{
		{"upgrade", nil},
		// Item files and a newer local-state.json: upgraded, downgraded,
		// upgraded again. The file is what the agent last held.
		{"upgrade after a downgrade", []op{addSvc("gone", local.FromAPI, false, "gone:ttl"), addSvc("web-1", local.FromAPI, false, "stale")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			old := local.New(dir)
			for _, o := range tc.before {
				o(t, old)
			}
			legacy := filepath.Join(dir, "local-state.json")
			if err := os.WriteFile(legacy, []byte(legacyState), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(legacy+".tmp", []byte("{"), 0o640); err != nil {
				t.Fatal(err)
			}
			st := restart(t, dir)
			s, c := apiDefs(st)
			if !slices.Equal(ids(s), []string{"web-1"}) || !slices.Equal(ids(c), []string{"mem", "service:web-1"}) {
				t.Fatalf("migrated %q and %q", ids(s), ids(c))
			}
			want := &agentv1.ServiceDefinition{Id: "web-1", Name: "web", Tags: []string{"a"}, Port: 80}
			if !proto.Equal(s["web-1"], want) || c["service:web-1"].Ttl.AsDuration() != 30*time.Second || st.Check("mem").Status != local.Passing {
				t.Fatalf("migrated %v and %v", s, c)
			}
			for _, name := range []string{legacy, legacy + ".tmp"} {
				if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s after migration: %v", name, err)
				}
			}
			files := slices.Sorted(maps.Keys(snapshot(t, dir)))
			wantFiles := []string{svcFile("web-1"), checkFile("mem"), checkFile("service:web-1")}
			slices.Sort(wantFiles)
			if !slices.Equal(files, wantFiles) {
				t.Fatalf("files after migration %q, want %q", files, wantFiles)
			}
			sameDefs(t, restart(t, dir), st)
		})
	}
}

func TestLoadFailsOnCorruptFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		wantErr             bool
	}{
		{"service", svcFile("web"), `{"id": `, true},
		{"check", checkFile("mem"), `{"checkId": 7}`, true},
		{"local-state.json", "local-state.json", `{"services": [`, true},
		{"leftover temporary file", svcFile("web") + ".tmp", `{"id": `, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := local.New(dir)
			addSvc("db", local.FromAPI, false, "db:ttl")(t, st)
			addCheck("mem", "", local.FromAPI)(t, st)
			name := filepath.Join(dir, tc.file)
			if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(tc.content), 0o640); err != nil {
				t.Fatal(err)
			}
			err := local.New(dir).Load()
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				sameDefs(t, restart(t, dir), st)
				return
			}
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("Load: %v, want an error naming %s", err, name)
			}
		})
	}
}

// A failed write is returned, the change is kept in memory as it always
// was, and the next change writes it, as rewriting the whole state did.
func TestPersistFailureIsReturnedAndRetried(t *testing.T) {
	dir := t.TempDir()
	st := local.New(dir)
	block := filepath.Join(dir, "services") // a file where the directory goes
	if err := os.WriteFile(block, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	chk := &agentv1.CheckDefinition{CheckId: "web:ttl", ServiceId: "web", Ttl: durationpb.New(time.Minute)}
	if _, err := st.AddService(&agentv1.ServiceDefinition{Id: "web", Name: "web"}, []*agentv1.CheckDefinition{chk}, local.FromAPI, false); err == nil {
		t.Fatal("AddService persisted under a file")
	}
	if st.Service("web") == nil || st.Check("web:ttl") == nil {
		t.Fatal("a failed write undid the change in memory")
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	addCheck("mem", "", local.FromAPI)(t, st)
	again := restart(t, dir)
	sameDefs(t, again, st)
	if again.Service("web") == nil {
		t.Fatal("the failed write was not retried")
	}
}

// BenchmarkAddService registers b.N services through the API into one
// State persisting to a temporary directory, so the cost of a
// registration shows whether it grows with the services already held.
func BenchmarkAddService(b *testing.B) {
	st := local.New(b.TempDir())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		def := &agentv1.ServiceDefinition{Id: fmt.Sprintf("web-%d", i), Name: "web", Port: 80, Tags: []string{"a"}}
		if _, err := st.AddService(def, nil, local.FromAPI, false); err != nil {
			b.Fatal(err)
		}
	}
}
