package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

var outputLine = regexp.MustCompile(`(?m)^output: (.+)$`)

// TestGeneratedCodeIsFresh regenerates the wire types from schemas/openapi.yaml, for the server
// (pkg/api) and for the migrator SDK (pkg/migrator/wire), and fails when a committed file
// differs: run `go generate ./pkg/api` and commit the result.
func TestGeneratedCodeIsFresh(t *testing.T) {
	for _, config := range []string{"oapi-codegen.yaml", "wire-codegen.yaml"} {
		t.Run(config, func(t *testing.T) {
			cfg, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			m := outputLine.FindSubmatch(cfg)
			if m == nil {
				t.Fatalf("%s has no output line", config)
			}
			committed := string(m[1])
			dir := t.TempDir()
			out := filepath.Join(dir, "types.gen.go")
			cfg = outputLine.ReplaceAll(cfg, []byte("output: "+out))
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("go", "tool", "oapi-codegen", "-config", filepath.Join(dir, "config.yaml"), "../../schemas/openapi.yaml")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("oapi-codegen: %v\n%s", err, msg)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(committed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is stale: run `go generate ./pkg/api` and commit the result", committed)
			}
		})
	}
}
