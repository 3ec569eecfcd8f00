package archtest

import (
	"os"
	"regexp"
	"testing"
)

// TestReadmeMigratorExample keeps the README's "Write a migrator" code identical to
// examples/bump-go/main.go, which the build compiles and vet checks.
func TestReadmeMigratorExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Write a migrator.*?```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Go block under \"## Write a migrator\"")
	}
	example, err := os.ReadFile("../../examples/bump-go/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(m[1]) != string(example) {
		t.Fatal("README.md's migrator example and examples/bump-go/main.go differ: copy one onto the other")
	}
}
