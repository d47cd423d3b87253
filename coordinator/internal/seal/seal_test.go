package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	box, err := New("0123456789abcdef-operator-key")
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"PG_PASSWORD":"s3cret"}`)
	sealed, err := box.Seal(plain, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := box.Open(sealed, "run-1")
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	other, _ := New("another-key-of-enough-length")
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	cases := map[string]func() ([]byte, error){
		"other run":  func() ([]byte, error) { return box.Open(sealed, "run-2") },
		"other key":  func() ([]byte, error) { return other.Open(sealed, "run-1") },
		"tampered":   func() ([]byte, error) { return box.Open(tampered, "run-1") },
		"truncated":  func() ([]byte, error) { return box.Open(sealed[:10], "run-1") },
		"no version": func() ([]byte, error) { return box.Open(append([]byte{9}, sealed[1:]...), "run-1") },
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := open(); !errors.Is(err, ErrOpen) {
				t.Errorf("Open = %v, want ErrOpen", err)
			}
		})
	}
	if _, err := New("short"); err == nil {
		t.Error("New(short key) succeeded")
	}
}
