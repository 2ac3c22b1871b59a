// Package modpin is imported by nothing. It exists so that `go mod tidy`
// keeps a recent google.golang.org/genproto in lib's requirements: older
// versions of that module, pulled in by dependencies' go.mod files, still
// contain googleapis/api and googleapis/rpc, which now live in their own
// modules, and builds then fail with "ambiguous import". Every module of
// the workspace requires lib, so the pin holds for all of them.
package modpin

import _ "google.golang.org/genproto/googleapis/type/date"
