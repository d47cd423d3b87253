package wasmhost

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/wirerows"
)

// hWireRows runs one loop of the SDK's wire-row decoding natively over the
// guest's memory (abi.WireRowsOp, package wirerows). It neither blocks nor
// looks at the instance's state, so it runs even once the call is being
// cancelled; a refused call leaves the loop to the guest.
func hWireRows(_ context.Context, _ *instance, mod api.Module, s []uint64) int32 {
	op, ptr, words := abi.WireRowsOp(api.DecodeI32(s[0])), api.DecodeU32(s[1]), api.DecodeU32(s[2])
	if words != abi.WireArgsWords {
		return -abi.EINVAL
	}
	mem, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		return -abi.EFAULT
	}
	block, ok := read(mod, ptr, abi.WireArgsWords*8)
	if !ok {
		return -abi.EFAULT
	}
	var args [abi.WireArgsWords]uint64
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(block[8*i:])
	}
	if err := wirerows.Run(mem, op, args[:]); err != nil {
		return -abi.EFAULT
	}
	for i := abi.WireArgOut; i < abi.WireArgsWords; i++ {
		binary.LittleEndian.PutUint64(block[8*i:], args[i])
	}
	return 0
}
