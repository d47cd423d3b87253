// Package app is the rapidbyte command line: cobra commands that turn pipeline files
// into CoordinatorService calls against a remote coordinator, or against an embedded
// coordinator and worker started in-process when no coordinator address is given.
package app
