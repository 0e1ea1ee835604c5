// Package conventions holds the tests that read the repository itself
// rather than run it: rules the code keeps (no sleep as a wait, every
// skip through testenv) and files kept in step with it (the CI
// workflows, the Makefile). They need Go alone, so the short tier runs
// them.
package conventions
