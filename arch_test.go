package medchain_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/medchain/medchain"

// packages returns each package of the module with its direct imports.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		pkgs[parts[0]] = append([]string{parts[1]}, strings.Fields(parts[2])...)
	}
	return pkgs
}

// TestPackageDocs: every package explains itself in a doc.go.
func TestPackageDocs(t *testing.T) {
	for pkg, v := range packages(t) {
		if pkg == module { // this test's own package: tests only
			continue
		}
		if _, err := os.Stat(filepath.Join(v[0], "doc.go")); err != nil {
			t.Errorf("%s has no doc.go", pkg)
		}
	}
}

// TestDependencyDirection: dependencies point inward (DESIGN.md, Shape):
// chain and contracts are pure and import nothing from node, consensus or
// p2p (the executor in chain/state runs the contract VM; contracts imports
// only chain's types and codec); consensus reaches the network only through
// raft.Transport.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		from      string
		forbidden []string
	}{
		{module + "/chain", []string{module + "/node", module + "/consensus", module + "/p2p", "github.com/libp2p", "github.com/hashicorp/raft", "github.com/ethereum"}},
		{module + "/contracts", []string{module + "/node", module + "/consensus", module + "/p2p", module + "/chain/state", module + "/chain/store", "github.com/libp2p", "github.com/hashicorp/raft"}},
		{module + "/consensus", []string{module + "/node", module + "/p2p", "github.com/libp2p", "github.com/ethereum"}},
		{module + "/p2p", []string{module + "/node", module + "/consensus"}},
	}
	for pkg, v := range packages(t) {
		for _, r := range rules {
			if pkg != r.from && !strings.HasPrefix(pkg, r.from+"/") {
				continue
			}
			for _, imp := range v[1:] {
				for _, f := range r.forbidden {
					if imp == f || strings.HasPrefix(imp, f+"/") {
						t.Errorf("%s imports %s: %s must not depend on %s", pkg, imp, r.from, f)
					}
				}
			}
		}
	}
}
