//go:build !wasip1

package main

import (
	"errors"

	"github.com/rapidbyte/rapidbyte/sdk"
)

// garbage needs the raw wasm imports; natively it only reports that.
func garbage(string) error {
	return sdk.InternalError(errors.New("garbage modes need the wasm host"))
}
