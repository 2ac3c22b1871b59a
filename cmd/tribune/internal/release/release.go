// Package release names the build.
package release

// Version is Tribune's version; the build may override it with
// -ldflags "-X github.com/tribune/tribune/cmd/tribune/internal/release.Version=...".
var Version = "0.1.0"
