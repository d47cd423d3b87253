package wasmhost

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/wirerows"
)

// hWireRows runs one loop of the SDK's wire-row decoding or encoding
// natively over the guest's memory (abi.WireRowsOp, package wirerows), in
// time bounded by the memory's size. It neither blocks nor looks at the
// instance's state, so it runs even once the call is being cancelled. An
// unknown op or block size is -EINVAL (the guest then runs its own loop);
// a block naming memory outside the guest's is a fault, as for any host
// call, and the loop may have written part of its output by then.
func hWireRows(_ context.Context, in *instance, mod api.Module, s []uint64) int32 {
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
		in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("wire_rows block [%d, +%d) is outside guest memory", ptr, abi.WireArgsWords*8))
		return -abi.EFAULT
	}
	var args [abi.WireArgsWords]uint64
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(block[8*i:])
	}
	if err := wirerows.Run(mem, op, args[:]); err != nil {
		if errors.Is(err, wirerows.ErrOutOfRange) {
			in.setFault(abi.CategoryInternal, "bad_pointer", fmt.Errorf("wire_rows op %d: %w", op, err))
			return -abi.EFAULT
		}
		return -abi.EINVAL
	}
	for i := abi.WireArgOut; i < abi.WireArgsWords; i++ {
		binary.LittleEndian.PutUint64(block[8*i:], args[i])
	}
	return 0
}
