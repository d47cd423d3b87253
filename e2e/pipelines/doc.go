// Package pipelines holds end-to-end tests of whole pipeline runs: the real
// rapidbyte CLI (embedded, and against a coordinator with worker processes)
// moving data between real PostgreSQL databases through the real connector
// modules, each asserting the destination with SQL. See ../README.md.
package pipelines
