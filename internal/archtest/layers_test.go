// Package archtest checks the layering rules of DESIGN.md against the real import graph.
package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/drover-dev/drover"

// rule says which of the module's packages a layer may import directly, and which outside
// packages must not appear anywhere in its dependencies.
type rule struct {
	pkg       string
	mayImport []string // module packages (prefixes) allowed as direct imports
	neverDeps []string // module paths forbidden among all (transitive) dependencies
	recursive bool     // the rule covers sub-packages too
}

var frameworks = []string{"github.com/gin-gonic/gin", "github.com/redis/go-redis", "go.temporal.io", "modernc.org/sqlite", "github.com/getkin/kin-openapi"}

var rules = []rule{
	{pkg: mod + "/internal/migrations", mayImport: []string{mod + "/pkg/api", mod + "/internal/migrations/rollout"}, neverDeps: frameworks},
	// The rollout planner is one of the service's helpers: pure decisions, no I/O, nothing of
	// the module's and no framework.
	{pkg: mod + "/internal/migrations/rollout", mayImport: []string{}, neverDeps: frameworks},
	{pkg: mod + "/internal/migrations/handler", mayImport: []string{mod + "/internal/migrations", mod + "/internal/access", mod + "/pkg/api", mod + "/schemas"},
		neverDeps: []string{"github.com/redis/go-redis", "go.temporal.io", "modernc.org/sqlite"}},
	{pkg: mod + "/internal/migrations/execution", mayImport: []string{mod + "/internal/migrations", mod + "/pkg/api"},
		neverDeps: []string{"github.com/gin-gonic/gin", "github.com/redis/go-redis", "modernc.org/sqlite", "go.temporal.io/server"}},
	// The store implements the service's port, so it needs the port's types and errors.
	{pkg: mod + "/internal/migrations/store", mayImport: []string{mod + "/internal/migrations", mod + "/pkg/api"},
		neverDeps: []string{"github.com/gin-gonic/gin", "go.temporal.io"}},
	{pkg: mod + "/internal/migrations/migrator", mayImport: []string{mod + "/pkg/api", mod + "/pkg/migrator/signature"}, neverDeps: frameworks},
	// The trust model: no frameworks; its store implements its port.
	{pkg: mod + "/internal/access", mayImport: []string{mod + "/pkg/migrator/signature"}, neverDeps: frameworks},
	{pkg: mod + "/internal/access/store", mayImport: []string{mod + "/internal/access"},
		neverDeps: []string{"github.com/gin-gonic/gin", "go.temporal.io"}},
	{pkg: mod + "/internal/platform/temporal", mayImport: []string{mod + "/internal/migrations"},
		neverDeps: []string{"github.com/gin-gonic/gin", "github.com/redis/go-redis", "go.temporal.io/server"}},
	{pkg: mod + "/pkg", recursive: true, mayImport: []string{mod + "/pkg"}, neverDeps: append([]string{mod + "/internal"}, frameworks...)},
}

type pkgInfo struct {
	imports []string
	deps    []string
}

func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", mod+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		pkgs[parts[0]] = pkgInfo{imports: strings.Fields(parts[1]), deps: strings.Fields(parts[2])}
	}
	return pkgs
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		matched := false
		for path, info := range pkgs {
			if path != r.pkg && !(r.recursive && strings.HasPrefix(path, r.pkg+"/")) {
				continue
			}
			matched = true
			for _, imp := range info.imports {
				if strings.HasPrefix(imp, mod) && !hasPrefix(imp, r.mayImport) && imp != path {
					t.Errorf("%s imports %s; this layer may import only %v", path, imp, r.mayImport)
				}
			}
			for _, dep := range info.deps {
				if hasPrefix(dep, r.neverDeps) {
					t.Errorf("%s depends on %s, which this layer must not (directly or through another package)", path, dep)
				}
			}
		}
		if !matched {
			t.Errorf("no package matches the rule for %s: update the rules", r.pkg)
		}
	}
	// Nothing may import a command, and only test helpers (…test packages) may import testsupport.
	for path, info := range pkgs {
		for _, imp := range info.imports {
			testOnly := imp == mod+"/internal/testsupport" && !strings.HasSuffix(path, "test")
			if strings.HasPrefix(imp, mod+"/cmd/") || testOnly {
				t.Errorf("%s imports %s", path, imp)
			}
		}
	}
}
