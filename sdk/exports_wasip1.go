//go:build wasip1

package sdk

import "github.com/rapidbyte/rapidbyte/sdk/abi"

func run(export string) int32 {
	if served == nil {
		return fail(theHost, errorf(abi.CategoryInternal, "not_served", "connector module did not call sdk.Serve in init"))
	}
	return dispatch(theHost, *served, export)
}

//go:wasmexport rb_abi_version
func rbABIVersion() int32 { return abi.Version }

//go:wasmexport rb_open
func rbOpen() int32 { return run(abi.ExportOpen) }

//go:wasmexport rb_discover
func rbDiscover() int32 { return run(abi.ExportDiscover) }

//go:wasmexport rb_check
func rbCheck() int32 { return run(abi.ExportCheck) }

//go:wasmexport rb_read
func rbRead() int32 { return run(abi.ExportRead) }

//go:wasmexport rb_write
func rbWrite() int32 { return run(abi.ExportWrite) }

//go:wasmexport rb_close
func rbClose() int32 { return run(abi.ExportClose) }
