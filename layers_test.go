package ox_test

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layers says, for each package of the module, which packages of the
// module it may import (besides internal/ test helpers for tests, which
// are not counted: only non-test files are read). Imports point down only:
// the wire elements, the checks, the backup code and the backends know
// nothing of XMPP sessions; pep nothing of OpenPGP; the features (muc, mam,
// wot) stand on the Client and the Client knows nothing of them; the CLI is
// a face of the Client and imports only it, its features and the types it
// prints.
var layers = map[string][]string{
	"element":      {"internal/xmlx"},
	"pgp":          {},
	"trust":        {},
	"backup":       {},
	"store":        {},
	"pep":          {"internal/xmlx"},
	"check":        {"element", "pgp"},
	"pgp/native":   {"pgp", "store"},
	"pgp/gnupg":    {"pgp"},
	"pgp/pgptest":  {"pgp"},
	"wkd":          {"pgp"},
	".":            {"backup", "check", "element", "internal/xmlx", "pep", "pgp", "pgp/gnupg", "pgp/native", "store", "trust", "wkd"},
	"muc":          {".", "element", "pep", "pgp"},
	"mam":          {".", "element", "internal/xmlx", "pep"},
	"wot":          {".", "element", "pgp", "store", "trust"},
	"cmd/ox":       {".", "backup", "feed", "files", "mam", "muc", "pgp", "rpc", "trust", "wot"},
	"rpc":          {},
	"files":        {".", "element"},
	"feed":         {"."},
	"cmd/oxdemo":   {".", "internal/prosody", "pgp"},
	"bench":        {},
	"internal/...": {"*"},
}

const module = "codeberg.org/ox/ox"

func TestLayers(t *testing.T) {
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(path)
		allowed, ok := layers[rel]
		if strings.HasPrefix(rel, "internal/") {
			allowed, ok = layers["internal/..."]
		}
		if !ok {
			t.Errorf("package %s is not in the layer table: say what it may import", rel)
			return nil
		}
		seen[rel] = true
		for _, imp := range pkg.Imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			short := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if short == "" {
				short = "."
			}
			if !slices.Contains(allowed, short) && !slices.Contains(allowed, "*") {
				t.Errorf("%s imports %s, which is not below it (allowed: %v)", rel, short, allowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{".", "cmd/ox", "muc", "mam", "wot", "element", "check"} {
		if !seen[must] {
			t.Errorf("package %s was not found: the walk is broken", must)
		}
	}
}
