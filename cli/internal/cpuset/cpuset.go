// Package cpuset confines the process to part of the CPUs it may run on.
package cpuset

import "errors"

// ErrUnsupported is returned where the system offers no way to confine a
// process's threads.
var ErrUnsupported = errors.New("cpuset: not supported on this system")
