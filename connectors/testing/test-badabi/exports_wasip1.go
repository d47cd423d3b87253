//go:build wasip1

package main

//go:wasmexport rb_abi_version
func rbABIVersion() int32 { return 999 }

//go:wasmexport rb_open
func rbOpen() int32 { return -1 }

//go:wasmexport rb_discover
func rbDiscover() int32 { return -1 }

//go:wasmexport rb_check
func rbCheck() int32 { return -1 }

//go:wasmexport rb_read
func rbRead() int32 { return -1 }

//go:wasmexport rb_close
func rbClose() int32 { return 0 }
