// Package docs holds the tests that keep the documentation true: every
// relative link in the project's Markdown resolves, the README stays a
// first screen, and the package picture of docs/internals is the import
// graph of the code as it is. The pages rendered from the code itself
// (docs/reference, docs/library.md) are checked by cmd/scenario's tests.
package docs

//go:generate go test . -run ^TestPackagePictureIsCurrent$ -update
