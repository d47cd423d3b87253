// Package report renders coordinator results for people (text) and machines (JSON):
// run summaries with the @@BENCH_JSON@@ trailer, catalogs with the @@CATALOG_JSON@@
// trailer, check results, connector lists and run tables.
package report
