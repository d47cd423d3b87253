// Package catalog discovers a pipeline's source through a worker and selects
// the catalog streams the pipeline's entries name, expanding stream patterns
// ("public.*") into one stream per table. Discover, check and the run
// planner share it, so all three see the same selection.
package catalog
