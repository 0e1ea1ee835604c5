package steps

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A step type is a package-level value made by Typed in its own file, and
// builtin lists it: one made but left out of the list would be silently
// unknown to scenarios, the schema and the docs.
func TestEveryStepTypeValueIsInTheDefaultList(t *testing.T) {
	var made []string
	var listed []string
	_, files := packageSources(t)
	for path, f := range files {
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.GenDecl:
				for _, s := range decl.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if !ok || len(vs.Values) != 1 {
						continue
					}
					// Typed(...), or a helper making a family of types.
					if _, ok := vs.Values[0].(*ast.CallExpr); ok && strings.HasSuffix(vs.Names[0].Name, "Type") {
						made = append(made, vs.Names[0].Name)
					}
				}
			case *ast.FuncDecl:
				if decl.Name.Name == "init" {
					t.Errorf("%s has an init: step types are listed in builtin, not registered as a side effect", path)
				}
				if decl.Name.Name != "builtin" {
					continue
				}
				ast.Inspect(decl.Body, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && strings.HasSuffix(id.Name, "Type") {
						listed = append(listed, id.Name)
					}
					return true
				})
			}
		}
	}
	if len(made) == 0 {
		t.Fatal("no step type values found: the test reads the wrong files")
	}
	for _, name := range made {
		if !slices.Contains(listed, name) {
			t.Errorf("step type %s is made but not listed in builtin", name)
		}
	}
	if got := len(Default().Types()); got != len(made) {
		t.Errorf("Default() has %d types, the package makes %d", got, len(made))
	}
}

// packageSources parses the package's non-test files, by path.
func packageSources(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		if files[path], err = parser.ParseFile(fset, path, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	return fset, files
}
