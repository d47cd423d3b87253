// Package cgroup reads the CPU and memory limits of the process's cgroup
// (v2, with v1 fallbacks), so a worker in a container sizes its guest slots
// and Go memory limit to the container rather than to the node.
package cgroup
