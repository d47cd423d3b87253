// Package kit tests the connector kit as an author outside the repository
// uses it: `rapidbyte connector init` into a temporary directory, the
// generated Makefile's native test and wasm build (GOWORK=off, the sdk
// replaced by this checkout's), `rapidbyte connector test` on the module,
// and a pipeline copying its rows into real PostgreSQL. See ../README.md.
package kit
