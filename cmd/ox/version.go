package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print ox's version (a release, or the source revision it was built from), go-crypto's and Go's",
		run: func(e *env, fs *flag.FlagSet) error {
			if fs.NArg() != 0 {
				return usagef("version takes no arguments")
			}
			printVersion(e.stdout)
			return nil
		},
	})
}

// goCrypto is the OpenPGP library ox is built on.
const goCrypto = "github.com/ProtonMail/go-crypto"

// printVersion writes ox's version from the build info: the module's
// version for a tagged build (go install ...@v1.2.3), otherwise the VCS
// revision and whether the tree had changes; then go-crypto's and Go's.
func printVersion(w io.Writer) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(w, "ox devel (no build information)\n%s\n", runtime.Version())
		return
	}
	fmt.Fprintln(w, "ox", mainVersion(bi))
	crypto := "unknown"
	for _, d := range bi.Deps {
		if d.Path == goCrypto {
			crypto = d.Version
			if d.Replace != nil {
				crypto += " => " + d.Replace.Path + " " + d.Replace.Version
			}
		}
	}
	fmt.Fprintf(w, "%s %s\n%s %s/%s\n", goCrypto, crypto, bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func mainVersion(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", with uncommitted changes"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel (revision " + rev
	if when != "" {
		v += " of " + when
	}
	return v + dirty + ")"
}
