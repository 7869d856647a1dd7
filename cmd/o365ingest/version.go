package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version overrides the build info's version when set at build time with
// -ldflags "-X main.version=..." (the Dockerfile's VERSION argument does).
var version = ""

// buildVersion is what `version` prints.
type buildVersion struct {
	// Version is the module version (v1.2.3 from go install …@v1.2.3; a pseudo-version
	// or "(devel)" from a checkout), or the -X main.version value.
	Version string `json:"version"`
	// Revision and Time are the VCS commit and its time when built from a checkout.
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	// Modified says the checkout had uncommitted changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// readVersion reads the version from the build info that the Go toolchain embeds.
func readVersion() buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		v.Version = version
	}
	return v
}

// String is the one-line form: "o365ingest v1.2.3 (rev 0123abcd 2026-12-04T19:00:00Z, modified) go1.26".
func (v buildVersion) String() string {
	s := "o365ingest " + v.Version
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (rev " + rev
		if v.Time != "" {
			s += " " + v.Time
		}
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + v.Go
}

func cmdVersion(_ context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the version, VCS revision and time and Go version as one JSON object")
	if code, ok := parseFlags(fs, env, args, "version [--json]"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(env, "version takes no arguments (got %q)", fs.Args())
	}
	v := readVersion()
	if *asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(env.Stdout, string(b))
		return exitOK
	}
	fmt.Fprintln(env.Stdout, v)
	return exitOK
}
