package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

var wasmHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// ErrNoManifest is returned by ReadManifest when the module has no
// ManifestSection custom section.
var ErrNoManifest = errors.New("module has no " + ManifestSection + " custom section")

// section is one top-level section of a wasm binary.
type section struct {
	id           byte
	start, end   int // whole section including id and size
	payloadStart int
	name         string // custom sections only
	nameEnd      int
}

func readULEB(b []byte, pos int) (uint64, int, error) {
	v, _, pos, err := readLEB(b, pos)
	return v, pos, err
}

// readLEB reads a LEB128 of at most 5 bytes (32 bits) at pos: its bits, how
// many it holds (7 per byte) and the position after it.
func readLEB(b []byte, pos int) (v uint64, bits int, next int, err error) {
	for shift := 0; shift < 35; shift += 7 {
		if pos >= len(b) {
			return 0, 0, 0, errors.New("truncated LEB128")
		}
		c := b[pos]
		pos++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, shift + 7, pos, nil
		}
	}
	return 0, 0, 0, errors.New("LEB128 too long")
}

func appendULEB(dst []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:8]) != string(wasmHeader) {
		return nil, errors.New("not a wasm binary (bad magic or version)")
	}
	var out []section
	pos := 8
	for pos < len(wasm) {
		s := section{id: wasm[pos], start: pos}
		size, p, err := readULEB(wasm, pos+1)
		if err != nil {
			return nil, fmt.Errorf("section at %d: %w", pos, err)
		}
		if size > uint64(len(wasm)-p) {
			return nil, fmt.Errorf("section at %d overruns the module", pos)
		}
		s.payloadStart, s.end = p, p+int(size)
		if s.id == 0 {
			n, q, err := readULEB(wasm, p)
			if err != nil || q > s.end || n > uint64(s.end-q) {
				return nil, fmt.Errorf("custom section at %d: bad name", pos)
			}
			s.name, s.nameEnd = string(wasm[q:q+int(n)]), q+int(n)
		}
		out = append(out, s)
		pos = s.end
	}
	return out, nil
}

// ReadManifestSection returns the raw payload of the ManifestSection custom
// section without instantiating or compiling the module.
func ReadManifestSection(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == 0 && s.name == ManifestSection {
			return wasm[s.nameEnd:s.end], nil
		}
	}
	return nil, ErrNoManifest
}

// ReadManifest reads and decodes the manifest embedded in a wasm module's
// ManifestSection custom section, without instantiating it. It does not
// call Validate.
func ReadManifest(wasm []byte) (*Manifest, error) {
	payload, err := ReadManifestSection(wasm)
	if err != nil {
		return nil, err
	}
	return decodeManifest(payload)
}

func decodeManifest(payload []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("decode %s section: %w", ManifestSection, err)
	}
	return &m, nil
}

// maxManifestBytes bounds the manifest section ReadManifestAt reads.
const maxManifestBytes = 1 << 20

// ReadManifestAt is ReadManifest for a module of size bytes read through
// r: it reads the section headers and the manifest only, a few kilobytes
// of a module of megabytes.
func ReadManifestAt(r io.ReaderAt, size int64) (*Manifest, error) {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil || string(head[:]) != string(wasmHeader) {
		return nil, errors.New("not a wasm binary (bad magic or version)")
	}
	// A section header is its id and a LEB128 size; a custom section's
	// payload starts with its name's LEB128 length and the name.
	buf := make([]byte, 1+5+5+len(ManifestSection))
	for pos := int64(8); pos < size; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if n == 0 && err != nil {
			return nil, err
		}
		b := buf[:n]
		secSize, p, err := readULEB(b, 1)
		if err != nil {
			return nil, fmt.Errorf("section at %d: %w", pos, err)
		}
		end := pos + int64(p) + int64(secSize)
		if end > size {
			return nil, fmt.Errorf("section at %d overruns the module", pos)
		}
		if b[0] == 0 {
			// A custom section's name must end within it, as sections
			// (ReadManifest) requires.
			nameLen, q, err := readULEB(b, p)
			if err != nil || pos+int64(q)+int64(nameLen) > end {
				return nil, fmt.Errorf("custom section at %d: bad name", pos)
			}
			if nameLen == uint64(len(ManifestSection)) && q+len(ManifestSection) <= len(b) &&
				string(b[q:q+len(ManifestSection)]) == ManifestSection {
				start := pos + int64(q+len(ManifestSection))
				if end-start > maxManifestBytes {
					return nil, fmt.Errorf("%s section of %d bytes exceeds %d", ManifestSection, end-start, maxManifestBytes)
				}
				payload := make([]byte, end-start)
				if n, err := r.ReadAt(payload, start); n < len(payload) {
					if err == nil {
						err = io.ErrUnexpectedEOF
					}
					return nil, err
				}
				return decodeManifest(payload)
			}
		}
		pos = end
	}
	return nil, ErrNoManifest
}

// EmbedManifest returns a copy of wasm whose ManifestSection custom section
// holds payload: an existing section of that name is removed and the new one
// is appended at the end of the module.
func EmbedManifest(wasm, payload []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(wasm)+len(payload)+32)
	out = append(out, wasmHeader...)
	for _, s := range secs {
		if s.id == 0 && s.name == ManifestSection {
			continue
		}
		out = append(out, wasm[s.start:s.end]...)
	}
	var body []byte
	body = appendULEB(body, uint64(len(ManifestSection)))
	body = append(body, ManifestSection...)
	body = append(body, payload...)
	out = append(out, 0)
	out = appendULEB(out, uint64(len(body)))
	return append(out, body...), nil
}
