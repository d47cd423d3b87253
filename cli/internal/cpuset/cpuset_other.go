//go:build !linux

package cpuset

// Allowed returns ErrUnsupported: only Linux is supported.
func Allowed() (int, error) { return 0, ErrUnsupported }

// Confine returns ErrUnsupported: only Linux is supported.
func Confine(int) (int, error) { return 0, ErrUnsupported }
