package steps

import (
	"go/ast"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// A key looked up by name (f.Node, f.Key on a step value's *spec.Fields,
// for a position) repeats a struct tag; a misspelt one would give no
// position, or a check that never fires. (Presence is typed: pointer and
// spec.Optional fields, not lookups.) Inside a build function
// (one that takes the value as *XSpec), every looked-up key must be a key
// of XSpec; elsewhere, a key of some step value.
func TestEveryLookedUpKeyIsDeclaredByItsStepValue(t *testing.T) {
	keysOf := func(ty reflect.Type) map[string]bool {
		out := map[string]bool{}
		for _, k := range spec.Keys(ty) {
			for _, part := range strings.Split(k.Key, ".") {
				out[part] = true
			}
		}
		return out
	}
	bySpec := map[string]map[string]bool{}
	anyStep := map[string]bool{}
	for _, ty := range Default().Types() {
		if ty.Spec == nil {
			continue
		}
		bySpec[ty.Spec.Name()] = keysOf(ty.Spec)
		for k := range bySpec[ty.Spec.Name()] {
			anyStep[k] = true
		}
	}
	fset, files := packageSources(t)
	checked, specific := 0, 0
	for _, file := range files {
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			declared, owner := anyStep, "any step value"
			for _, p := range fn.Type.Params.List {
				if star, ok := p.Type.(*ast.StarExpr); ok {
					if id, ok := star.X.(*ast.Ident); ok && bySpec[id.Name] != nil {
						declared, owner = bySpec[id.Name], id.Name
					}
				}
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Node" && sel.Sel.Name != "Key") {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "f" {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				key, _ := strconv.Unquote(lit.Value)
				checked++
				if owner != "any step value" {
					specific++
				}
				if !declared[key] {
					t.Errorf("%s: f.%s(%q) in %s: %s has no such key; is it misspelt?", fset.Position(call.Pos()), sel.Sel.Name, key, fn.Name.Name, owner)
				}
				return true
			})
		}
	}
	if checked == 0 || specific == 0 {
		t.Fatalf("checked %d lookups, %d against their own value: the test reads the wrong code", checked, specific)
	}
	t.Logf("%d lookups checked, %d against their own step value", checked, specific)
}
