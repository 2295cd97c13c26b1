// Package version says which build of connects-reconciler is running: the
// version stamped at build time (make build, the Dockerfile), else what the
// Go toolchain recorded (a module version, the commit), else "dev".
package version

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// version and revision are set by the build (make build, the Dockerfile),
// where the toolchain records no commit (no .git, -buildvcs=false):
//
//	go build -ldflags "-X github.com/connects/connects-reconciler/internal/version.version=v1.2.3 -X ....revision=COMMIT"
var version, revision string

// Info is what identifies a build.
type Info struct {
	Version   string `json:"version"`   // stamped, or the module's version, or the commit, or "dev"
	Revision  string `json:"revision"`  // the commit, with "-dirty" for uncommitted changes; "unknown" when not recorded
	GoVersion string `json:"goversion"` // the Go toolchain
}

var (
	once sync.Once
	info Info
)

// Get returns this binary's build information.
func Get() Info {
	once.Do(func() {
		info = Info{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
		bi, ok := debug.ReadBuildInfo()
		if ok {
			var dirty bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info.Revision = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if dirty && info.Revision != "unknown" {
				info.Revision += "-dirty"
			}
			if revision != "" && info.Revision == "unknown" {
				info.Revision = revision
			}
			if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				info.Version = bi.Main.Version
			}
		}
		if !ok && revision != "" {
			info.Revision = revision
		}
		if info.Version == "" {
			info.Version = "dev"
			if info.Revision != "unknown" {
				info.Version = "dev-" + info.Revision[:min(12, len(info.Revision))]
			}
		}
	})
	return info
}

// String is the one line --version prints.
func (i Info) String() string {
	return "connects-reconciler " + i.Version + " (revision " + i.Revision + ", " + i.GoVersion + ")"
}
