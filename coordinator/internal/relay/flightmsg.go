package relay

import "encoding/binary"

// IPC message header types (Message.fbs MessageHeader).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
)

// messageType returns the MessageHeader type of an Arrow IPC flatbuffer
// Message (FlightData.data_header) without decoding anything else, or 0 when
// the header is empty or malformed. Only the table's vtable is read: field 1
// (header_type, a ubyte) of the root table.
func messageType(h []byte) byte {
	if len(h) < 8 {
		return 0
	}
	// Some writers keep the IPC continuation marker and length prefix.
	if binary.LittleEndian.Uint32(h) == 0xFFFFFFFF {
		h = h[8:]
		if len(h) < 8 {
			return 0
		}
	}
	table := int(binary.LittleEndian.Uint32(h))
	if table < 0 || table+4 > len(h) {
		return 0
	}
	vtable := table - int(int32(binary.LittleEndian.Uint32(h[table:])))
	if vtable < 0 || vtable+4 > len(h) {
		return 0
	}
	vlen := int(binary.LittleEndian.Uint16(h[vtable:]))
	const field = 4 + 2*1 // vtable slot of field id 1
	if vlen < field+2 || vtable+field+2 > len(h) {
		return 0
	}
	off := int(binary.LittleEndian.Uint16(h[vtable+field:]))
	if off == 0 || table+off >= len(h) {
		return 0
	}
	return h[table+off]
}
