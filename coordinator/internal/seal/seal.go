package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// version prefixes every sealed value, so the format can change later.
const version byte = 1

// ErrOpen means a sealed value could not be opened: another key sealed it,
// or it was altered.
var ErrOpen = errors.New("cannot decrypt (wrong state key, or the data was altered)")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// MinKeyLen is the shortest operator key New accepts.
const MinKeyLen = 16

// New returns a Box keyed by the operator key: any string of at least
// MinKeyLen bytes (e.g. `openssl rand -base64 32`), hashed with SHA-256 to
// the AES-256 key. Every coordinator sharing a state store needs the same key.
func New(key string) (*Box, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("state key is %d bytes, want at least %d (e.g. openssl rand -base64 32)", len(key), MinKeyLen)
	}
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("state key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("state key: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain, binding it to context (e.g. the run id: a value
// sealed for one run does not open for another).
func (b *Box) Seal(plain []byte, context string) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plain, []byte(context)), nil
}

// Open decrypts a value Seal returned for the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, fmt.Errorf("open sealed value: %w", ErrOpen)
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", ErrOpen)
	}
	return plain, nil
}
