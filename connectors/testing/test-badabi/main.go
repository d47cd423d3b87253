// Command test-badabi is a test module that does not use the SDK: its
// rb_abi_version export returns 999, so the host must refuse it at load.
package main

func main() {}
