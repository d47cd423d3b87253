package pgclient

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// md5Password is the answer to an MD5 password request:
// "md5" + md5hex(md5hex(password + user) + salt).
func md5Password(user, password string, salt [4]byte) string {
	inner := md5.Sum([]byte(password + user))
	h := md5.New()
	h.Write([]byte(hex.EncodeToString(inner[:])))
	h.Write(salt[:])
	return "md5" + hex.EncodeToString(h.Sum(nil))
}

// errAuth marks an authentication the client itself refuses: a method or
// SASL mechanism it does not speak, or a server that failed SCRAM's proof.
// Classify makes it an auth error, which no retry fixes.
var errAuth = errors.New("authentication")

// scramMechanism is the one SASL mechanism the client speaks. Channel
// binding (SCRAM-SHA-256-PLUS) is not offered: TLS runs in the host, which
// does not hand the guest the server's certificate.
const scramMechanism = "SCRAM-SHA-256"

// scram is the client side of one SCRAM-SHA-256 exchange (RFC 5802, RFC
// 7677) as PostgreSQL runs it: the user name is the startup message's, so
// the client sends an empty one.
type scram struct {
	password    string
	clientNonce string
	firstBare   string // client-first-message-bare
	salted      []byte // SaltedPassword
	authMessage string
	verified    bool // the server's signature checked out
}

func newSCRAM(mechanisms []string, password string) (*scram, error) {
	if !slices.Contains(mechanisms, scramMechanism) {
		return nil, fmt.Errorf("%w: the server offers SASL mechanisms %v; this client speaks only %s", errAuth, mechanisms, scramMechanism)
	}
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("scram nonce: %w", err)
	}
	s := &scram{password: saslPrep(password), clientNonce: base64.RawStdEncoding.EncodeToString(nonce)}
	s.firstBare = "n=,r=" + s.clientNonce
	return s, nil
}

// clientFirst is the client-first-message: no channel binding ("n,,").
func (s *scram) clientFirst() []byte { return []byte("n,," + s.firstBare) }

// clientFinal answers the server-first-message with the client proof.
func (s *scram) clientFinal(serverFirst []byte) ([]byte, error) {
	attrs, err := scramAttributes(serverFirst)
	if err != nil {
		return nil, err
	}
	nonce, salt64, iter := attrs['r'], attrs['s'], attrs['i']
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
		return nil, fmt.Errorf("%w: scram: the server's nonce does not extend the client's", errAuth)
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, errors.New("scram: the server sent no valid salt")
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("scram: the server sent iteration count %q", iter)
	}
	if s.salted, err = pbkdf2.Key(sha256.New, s.password, salt, n, sha256.Size); err != nil {
		return nil, fmt.Errorf("scram: %w", err)
	}
	withoutProof := "c=biws,r=" + nonce // biws: base64 of "n,,"
	s.authMessage = s.firstBare + "," + string(serverFirst) + "," + withoutProof
	clientKey := hmacSHA256(s.salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	proof := hmacSHA256(storedKey[:], s.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verifyServer checks the server-final-message's signature: the server
// proves it knows the password's verifier too.
func (s *scram) verifyServer(serverFinal []byte) error {
	attrs, err := scramAttributes(serverFinal)
	if err != nil {
		return err
	}
	if e, ok := attrs['e']; ok {
		return fmt.Errorf("%w: scram: the server refused the proof: %s", errAuth, e)
	}
	got, err := base64.StdEncoding.DecodeString(attrs['v'])
	if err != nil {
		return errors.New("scram: the server sent no valid signature")
	}
	want := hmacSHA256(hmacSHA256(s.salted, "Server Key"), s.authMessage)
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: scram: the server's signature does not match; it does not know this password", errAuth)
	}
	s.verified = true
	return nil
}

// scramAttributes splits "a=value,b=value" into its attributes. A
// mandatory extension ("m=") is refused, as RFC 5802 requires.
func scramAttributes(msg []byte) (map[byte]string, error) {
	attrs := map[byte]string{}
	for _, part := range bytes.Split(msg, []byte{','}) {
		if len(part) < 2 || part[1] != '=' {
			return nil, fmt.Errorf("scram: malformed server message %q", truncate(msg))
		}
		attrs[part[0]] = string(part[2:])
	}
	if _, ok := attrs['m']; ok {
		return nil, errors.New("scram: the server requires an extension this client does not know")
	}
	return attrs, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// truncate bounds a server message quoted in an error.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
