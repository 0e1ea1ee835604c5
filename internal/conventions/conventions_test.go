package conventions

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests from the repository's root, where the paths
// they read and report are relative to.
func TestMain(m *testing.M) {
	if err := os.Chdir("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// goFiles calls visit with the path and contents of every Go file of the
// project (tools/, which pins others' code, aside).
func goFiles(t *testing.T, visit func(path string, data []byte)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "tools" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			visit(path, data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Waiting by sleeping is how flaky suites are made: no Go file here may
// call the sleep function (polls with deadlines and blocking queries only).
func TestNoSleepUsedAsAWait(t *testing.T) {
	forbidden := "time." + "Sleep("
	// A sleep in disguise: a timer made only to be waited for, or a bare
	// receive from time.After, waits a fixed time just the same.
	disguised := regexp.MustCompile(`(?m)(time\.NewTimer\([^\n]*\)\n\s*<-\s*\w+\.C\s*$|^\s*<-\s*time\.After\()`)
	goFiles(t, func(path string, data []byte) {
		if strings.Contains(string(data), forbidden) {
			t.Errorf("%s calls %s", path, forbidden)
		}
		if m := disguised.Find(data); m != nil {
			t.Errorf("%s waits a fixed time: %q; wait for a condition (wait.For) or the event itself", path, m)
		}
	})
}

// A test skips only through testenv, which fails instead in the full
// tier (`make test`): a skip of its own would let the full tier pass
// without running it, and a test that looks for its own tools would
// decide for itself what their absence means.
func TestSkipsGoThroughTestenv(t *testing.T) {
	// Spelt in pieces, so that this file does not match itself.
	own := regexp.MustCompile(`\.` + `Skip(f|Now)?\(|testing\.` + `Short\(\)|exec\.` + `LookPath\(`)
	goFiles(t, func(path string, data []byte) {
		if !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Join("internal", "testenv") {
			return
		}
		for i, line := range strings.Split(string(data), "\n") {
			if m := own.FindString(line); m != "" {
				t.Errorf("%s:%d: %s: a test states what it needs with testenv.Need (or testenv.Long), which skips or fails by the tier", path, i+1, m)
			}
		}
	})
}

// The CI workflows cannot run here, so actionlint checks them: the
// version pinned in tools/dev/go.mod, built from the module cache.
func TestWorkflowsLint(t *testing.T) {
	workflows, _ := filepath.Glob(".github/workflows/*.yml")
	if len(workflows) == 0 {
		t.Fatal("no .github/workflows/*.yml")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"tool", "-modfile=tools/dev/go.mod", "actionlint", "-shellcheck=", "-pyflakes="}, workflows...)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// A test the Makefile selects by name (`make soak`'s -run, `make fuzz`'s
// -fuzz) exists in the package it names: go test selecting nothing runs
// nothing and passes.
func TestMakefileSelectsTestsThatExist(t *testing.T) {
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	selected := regexp.MustCompile(`-(?:run|fuzz)[= ]'?\^?((?:Test|Fuzz)\w+)`)
	checked := 0
	for i, line := range strings.Split(string(makefile), "\n") {
		m := selected.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(line)
		pkg := fields[len(fields)-1]
		files, _ := filepath.Glob(filepath.Join(pkg, "*_test.go"))
		found := false
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			found = found || regexp.MustCompile(`(?m)^func `+m[1]+`\(`).Match(data)
		}
		if !found {
			t.Errorf("Makefile:%d selects %s, which %s does not have", i+1, m[1], pkg)
		}
		checked++
	}
	if checked < 2 {
		t.Errorf("found %d tests selected by name in the Makefile (make soak's, make fuzz's), want 2 or more", checked)
	}
}

// needCalls are the calls by which an end-to-end test states what it
// needs: the short tier runs the tests that need the scenario binary
// only, and skips the others.
var needCalls = map[string]bool{"needMesh": true, "needScenarioOnly": true, "testenv.Need": true, "testenv.Long": true}

// Every end-to-end test states what it needs in its own body (or in the
// function its first statement hands t to). One that does not would run
// in the short tier without Consul and fail there, or, needing Consul,
// get no skip that says why.
func TestEveryEndToEndTestStatesItsNeeds(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("e2e/*.go")
	funcs := map[string]*ast.FuncDecl{}
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Body != nil {
				funcs[fn.Name.Name] = fn
			}
		}
	}
	tests := 0
	for name, fn := range funcs {
		if !strings.HasPrefix(name, "Test") || name == "TestMain" {
			continue
		}
		tests++
		states := statesNeeds(fn.Body)
		// A test may hand t straight to a helper that states them.
		if !states && len(fn.Body.List) > 0 {
			if callee := calledName(fn.Body.List[0]); funcs[callee] != nil {
				states = statesNeeds(funcs[callee].Body)
			}
		}
		if !states {
			t.Errorf("%s: %s states no needs: begin it with needMesh(t) if it starts a mesh, or needScenarioOnly(t) if it runs the scenario binary alone (testenv.Need for more)",
				fset.Position(fn.Pos()), name)
		}
	}
	if tests < 50 {
		t.Errorf("found %d end-to-end tests, want 50 or more", tests)
	}
}

// statesNeeds reports whether a statement of body itself (not a closure)
// is one of needCalls.
func statesNeeds(body *ast.BlockStmt) bool {
	for _, stmt := range body.List {
		if needCalls[calledName(stmt)] {
			return true
		}
	}
	return false
}

// calledName is the function an expression statement calls, "" for
// other statements.
func calledName(stmt ast.Stmt) string {
	expr, ok := stmt.(*ast.ExprStmt)
	if !ok {
		return ""
	}
	call, ok := expr.X.(*ast.CallExpr)
	if !ok {
		return ""
	}
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if pkg, ok := f.X.(*ast.Ident); ok {
			return pkg.Name + "." + f.Sel.Name
		}
	}
	return ""
}
