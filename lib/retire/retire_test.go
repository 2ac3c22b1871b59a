package retire

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tribune/tribune/lib/nodeid"
)

func TestLeftData(t *testing.T) {
	dir := t.TempDir()
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(path string) bool {
		_, err := os.Stat(filepath.Join(dir, path))
		return err == nil
	}
	write(filepath.Join(dir, "registry", "log"))
	write(filepath.Join(dir, "kv", "log"))
	write(filepath.Join(dir, "kv.left", "older"))
	if _, err := nodeid.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}

	// Without the marker, nothing moves.
	if retired, err := LeftData(dir, "registry", "kv"); err != nil || retired || !exists("registry/log") || !exists(nodeid.FileName) {
		t.Fatalf("without the marker: retired %v, err %v", retired, err)
	}

	if err := MarkLeft(dir); err != nil {
		t.Fatal(err)
	}
	retired, err := LeftData(dir, "registry", "kv", "absent")
	if err != nil || !retired {
		t.Fatalf("with the marker: retired %v, err %v", retired, err)
	}
	for path, want := range map[string]bool{
		"registry": false, "kv": false, "registry.left/log": true, "kv.left/log": true, "kv.left/older": false,
		nodeid.FileName: false, LeftMarker: false,
	} {
		if exists(path) != want {
			t.Errorf("%s exists: %v, want %v", path, !want, want)
		}
	}

	// Once done, a second start changes nothing.
	if retired, err := LeftData(dir, "registry", "kv"); err != nil || retired || !exists("kv.left/log") {
		t.Fatalf("second start: retired %v, err %v", retired, err)
	}
}
